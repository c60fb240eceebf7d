import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { WalCheckpointWorkerData } from './wal-checkpointer.js';

/**
 * The WAL checkpointer's thread (see wal-checkpointer.ts): its own connection to the store
 * file, copying committed WAL frames into the database file and fsyncing, so the service's
 * event loop never does. PASSIVE never takes the write lock; only when the WAL has grown past
 * `restartFrames` (writes never paused long enough for a passive round to finish) does a
 * RESTART round wait for the writer, so the next write starts the WAL over from its beginning.
 */
const { path, intervalMs, restartFrames, busyTimeoutMs } = workerData as WalCheckpointWorkerData;
const port = parentPort!;
const db = new Database(path, { fileMustExist: true });
db.pragma(`busy_timeout = ${busyTimeoutMs}`);

interface CheckpointRow {
  busy: number;
  log: number;
  checkpointed: number;
}

function checkpoint(): void {
  try {
    const [passive] = db.pragma('wal_checkpoint(PASSIVE)') as CheckpointRow[];
    if (passive !== undefined && passive.log >= restartFrames) db.pragma('wal_checkpoint(RESTART)');
  } catch (error) {
    // SQLITE_BUSY and the like: the next round tries again; the owner logs what it is told.
    port.postMessage({ error: error instanceof Error ? error.message : String(error) });
  }
}

const timer = setInterval(checkpoint, intervalMs);
port.on('message', (message: unknown) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  checkpoint();
  db.close();
  port.close();
});
