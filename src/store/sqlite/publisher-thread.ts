import { Worker, type MessagePort } from 'node:worker_threads';
import type { PublisherWorkerData } from './publisher-worker.js';
import type { PublishSettings } from './publisher-wire.js';
import type { WriteCounters } from './sqlite-writes.js';

/**
 * The event loop's handle on the publisher thread (publisher-worker.ts): it starts it with its
 * end of the channel to the writer thread, relays its log lines, and closes it (after the
 * outbox's drain time) before the writer thread, whose acks the drain needs.
 */
export class PublisherThread {
  private readonly exited: Promise<void>;
  private closed = false;

  private constructor(private readonly worker: Worker, onError: ((message: string) => void) | undefined) {
    this.exited = new Promise((resolve) =>
      worker.once('exit', (code) => {
        // Events then wait in the outbox (in the file) until the next start publishes them.
        if (!this.closed) onError?.(`the events publisher thread exited (code ${code}); events wait in the outbox until a restart`);
        resolve();
      }),
    );
    worker.on('error', (error) => onError?.(`the events publisher thread failed: ${error.message}`));
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
    return new PublisherThread(worker, hooks.onError);
  }

  busySeconds(): number {
    return this.worker.performance.eventLoopUtilization().active / 1000;
  }

  /** Let it publish what it can within its drain time, then wait for it to exit. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.worker.ref();
    this.worker.postMessage('close');
    await this.exited;
  }
}
