import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';

export interface WalCheckpointWorkerData {
  path: string;
  intervalMs: number;
  restartFrames: number;
  busyTimeoutMs: number;
}

/** SQLite's own default: checkpoint in the committing connection once the WAL has 1000 frames. */
const SQLITE_DEFAULT_AUTOCHECKPOINT = 1000;
const DEFAULT_INTERVAL_MS = 250;
/** 16k frames of 4 KiB: a WAL of 64 MiB is started over even while writes never pause. */
const DEFAULT_RESTART_FRAMES = 16_384;
const STOP_TIMEOUT_MS = 5_000;

/**
 * Moves WAL checkpoints off the event loop. With synchronous=NORMAL the only fsyncs are a
 * checkpoint's, and SQLite runs one inside whichever COMMIT crosses `wal_autocheckpoint`:
 * measured on the fire path, that was about 40% of the cost of a write. Here the writing
 * connection never checkpoints; a worker thread with its own connection does, every
 * `intervalMs`. Durability is unchanged (a commit is in the WAL when COMMIT returns, as
 * before). If the worker cannot run, the connection checkpoints for itself again.
 */
export class WalCheckpointer {
  private stopped = false;

  private constructor(
    private readonly worker: Worker,
    private readonly db: Database.Database,
  ) {}

  static start(
    db: Database.Database,
    path: string,
    options: { intervalMs?: number; restartFrames?: number; busyTimeoutMs: number; onError?: (message: string) => void },
  ): WalCheckpointer {
    const workerData: WalCheckpointWorkerData = {
      path,
      intervalMs: options.intervalMs ?? DEFAULT_INTERVAL_MS,
      restartFrames: options.restartFrames ?? DEFAULT_RESTART_FRAMES,
      busyTimeoutMs: options.busyTimeoutMs,
    };
    const worker = new Worker(new URL('./wal-checkpoint-worker.js', import.meta.url), { workerData });
    const checkpointer = new WalCheckpointer(worker, db);
    db.pragma('wal_autocheckpoint = 0');
    worker.on('message', (m: { error?: string }) => {
      if (m.error !== undefined) options.onError?.(m.error);
    });
    worker.on('error', (error) => {
      options.onError?.(`checkpoint worker failed, checkpointing in the writer again: ${error.message}`);
      checkpointer.fallBack();
    });
    worker.on('exit', () => checkpointer.fallBack());
    // A store nobody closed must not keep the process alive for its checkpoints. (After the
    // listeners: adding a 'message' listener refs the worker again.)
    worker.unref();
    return checkpointer;
  }

  /** Stop the worker after one last round; the writing connection checkpoints when it closes. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // Held (ref) while it finishes its last round, so the caller's await keeps the process up.
    this.worker.ref();
    const exited = once(this.worker, 'exit').catch(() => undefined);
    this.worker.postMessage('stop');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, STOP_TIMEOUT_MS)));
    await Promise.race([exited, timeout]);
    clearTimeout(timer);
    await this.worker.terminate();
  }

  private fallBack(): void {
    if (this.stopped || !this.db.open) return;
    this.stopped = true;
    this.db.pragma(`wal_autocheckpoint = ${SQLITE_DEFAULT_AUTOCHECKPOINT}`);
  }
}
