import { Worker, type MessagePort } from 'node:worker_threads';
import type { PublisherWorkerData } from './publisher-worker.js';
import type { ClosePublisher, PublishSettings } from './publisher-wire.js';
import type { WriteCounters } from './sqlite-writes.js';

/** How long past its drain time a closing publisher thread may take to exit (its NATS close, say). */
const CLOSE_MARGIN_MS = 3_000;

/**
 * The event loop's handle on the publisher thread (publisher-worker.ts): it starts it with its
 * end of the channel to the writer thread, relays its log lines, and closes it (after the
 * outbox's drain time) before the writer thread, whose acks the drain needs.
 */
export class PublisherThread {
  private readonly exited: Promise<void>;
  private closing: Promise<void> | undefined;
  private gone = false;

  private constructor(
    private readonly worker: Worker,
    private readonly drainMs: number,
    private readonly onError: ((message: string) => void) | undefined,
  ) {
    let failed = false;
    worker.on('error', (error) => {
      failed = true;
      onError?.(`the events publisher thread failed: ${error.message}; events wait in the outbox until a restart`);
    });
    this.exited = new Promise((resolve) =>
      worker.once('exit', (code) => {
        this.gone = true;
        // Events then wait in the outbox (in the file) until the next start publishes them.
        if (this.closing === undefined && !failed) onError?.(`the events publisher thread exited (code ${code}); events wait in the outbox until a restart`);
        resolve();
      }),
    );
    // Its connection and timers do not keep the process alive; close() waits for it.
    worker.unref();
  }

  static start(
    data: { path: string; settings: PublishSettings; outboxLimit: number; counters: WriteCounters },
    writer: MessagePort,
    hooks: { onLog?: (line: string) => void; onError?: (message: string) => void },
  ): PublisherThread {
    const workerData: PublisherWorkerData = { ...data, writer };
    // As for the writer thread: none of the process's own flags.
    const worker = new Worker(new URL('./publisher-worker.js', import.meta.url), { workerData, transferList: [writer], execArgv: [] });
    worker.on('message', (line: string) => hooks.onLog?.(line));
    return new PublisherThread(worker, data.settings.drainMs, hooks.onError);
  }

  /** False once the thread is gone without being closed: events then wait until a restart. */
  alive(): boolean {
    return !this.gone || this.closing !== undefined;
  }

  busySeconds(): number {
    return this.worker.performance.eventLoopUtilization().active / 1000;
  }

  /**
   * Let it publish what it can within its drain time, then wait for it to exit; a thread that
   * does not exit soon after (stuck on a writer thread that died, say) is terminated: what it
   * did not ack stays in the outbox.
   */
  close(committedBatches: number): Promise<void> {
    this.closing ??= (async () => {
      if (this.gone) return;
      this.worker.ref();
      const message: ClosePublisher = { kind: 'close', committedBatches };
      this.worker.postMessage(message);
      let timer: NodeJS.Timeout | undefined;
      const stuck = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(true), this.drainMs + CLOSE_MARGIN_MS); });
      if (await Promise.race([this.exited.then(() => false), stuck])) {
        this.onError?.(`the events publisher thread did not end within ${this.drainMs + CLOSE_MARGIN_MS} ms of the close; terminated, what it did not ack waits in the outbox until a restart`);
        await this.worker.terminate();
      }
      clearTimeout(timer);
      await this.exited;
    })();
    return this.closing;
  }
}
