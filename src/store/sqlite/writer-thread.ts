import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { UnavailableError } from '../../domain/errors.js';
import type { WriteCounters, WriteLimits, WriteOp, WriteValue } from './sqlite-writes.js';
import type { WritePath } from './write-path.js';
import { settleWrites, type PendingWrite } from './write-batch.js';
import { decodeOutcomes, encodeWriteOps, type WireOutcomes } from './writer-wire.js';
import { PublisherThread } from './publisher-thread.js';
import type { PublishSettings } from './publisher-wire.js';

export interface WriterWorkerData {
  path: string;
  limits: WriteLimits;
  /** The channel to the publisher thread, when there is one (transferred). */
  publisher?: MessagePort;
}

/** What the writer thread posts: a batch's reply (in the order batches were posted), or the counts after a publisher's ack. */
export type WriterMessage =
  | { kind: 'batch'; outcomes: WireOutcomes; counters: WriteCounters; committedBatches: number }
  | { kind: 'counters'; counters: WriteCounters };

export interface WriterThreadHooks {
  /** Told when the thread fails (its writes then fail UNAVAILABLE). */
  onError?: (message: string) => void;
  /** Publish the outboxes from a thread of their own (publisher-worker.ts). */
  publish?: PublishSettings;
  /** Each log line (pino's JSON) of the publisher thread. */
  onPublisherLog?: (line: string) => void;
  /** Told when the publisher thread fails (events then wait in the outbox). */
  onPublisherError?: (message: string) => void;
}

/** Writes per message (and per transaction on the writer thread). */
const MAX_BATCH = 1000;

/**
 * The store's writes on a thread of their own (writer-worker.ts), with their own connection:
 * executing the statements and committing (with SQLite's WAL checkpoints and their fsyncs)
 * was about 40% of the event loop's work per fire. The event loop queues writes as data (an
 * execution's row already encoded, see writer-wire.ts), posts what was queued in one turn as
 * one batch (one transaction over there), and
 * settles each caller's promise when the batch's reply says it committed. Reads stay on the
 * event loop's connection: once a write's promise has settled, they see it (WAL).
 */
export class WriterThread implements WritePath {
  private queue: Array<{ op: WriteOp; pending: PendingWrite }> = [];
  /** Posted batches, oldest first: replies come back in the same order. */
  private readonly posted: PendingWrite[][] = [];
  private scheduled = false;
  private failure: Error | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly exited: Promise<void>;
  /** Batches committed so far, as the last reply said. */
  private committedBatches = 0;
  /** Told once every posted batch is answered (or failed). */
  private whenAnswered: Array<() => void> = [];

  private constructor(
    private readonly worker: Worker,
    private mirror: WriteCounters,
    onError: ((message: string) => void) | undefined,
    private readonly publisher: PublisherThread | undefined,
  ) {
    worker.on('message', (message: WriterMessage) => {
      if (message.kind === 'batch') this.settle(message);
      else this.mirror = message.counters;
    });
    worker.on('error', (error) => {
      onError?.(`sqlite writer thread failed: ${error.message}`);
      this.fail(new UnavailableError(`the sqlite writer thread failed: ${error.message}`));
    });
    this.exited = new Promise((resolve) =>
      worker.once('exit', (code) => {
        // After an 'error' the failure is marked (and logged) already; an exit without one is
        // logged here, so every loss of the writer reaches the log.
        if (!this.closed && this.failure === undefined) {
          onError?.(`sqlite writer thread exited (code ${code})`);
          this.fail(new UnavailableError(`the sqlite writer thread exited (code ${code})`));
        }
        resolve();
      }),
    );
    this.updateRef();
  }

  /** `initial`: the counts as the file has them now (the writer starts from the same file). */
  static start(path: string, limits: WriteLimits, initial: WriteCounters, hooks: WriterThreadHooks = {}): WriterThread {
    // The two threads talk over a channel of their own: committed events one way, acks the other.
    const channel = hooks.publish === undefined ? undefined : new MessageChannel();
    const workerData: WriterWorkerData = { path, limits, ...(channel === undefined ? {} : { publisher: channel.port1 }) };
    // None of the process's own flags: a worker refuses many (--input-type, --expose-gc,
    // --max-old-space-size) and needs none.
    const worker = new Worker(new URL('./writer-worker.js', import.meta.url), { workerData, transferList: channel === undefined ? [] : [channel.port1], execArgv: [] });
    const publisher = channel === undefined
      ? undefined
      : PublisherThread.start({ path, settings: hooks.publish!, outboxLimit: limits.outboxLimit, counters: initial }, channel.port2, {
        ...(hooks.onPublisherLog === undefined ? {} : { onLog: hooks.onPublisherLog }),
        ...(hooks.onPublisherError === undefined ? {} : { onError: hooks.onPublisherError }),
      });
    return new WriterThread(worker, initial, hooks.onError, publisher);
  }

  submit(op: WriteOp, onCommitted?: (value: WriteValue) => void): Promise<WriteValue> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new UnavailableError('the sqlite store is closed'));
    return new Promise<WriteValue>((resolve, reject) => {
      this.queue.push({ op, pending: { onCommitted, resolve, reject } });
      if (!this.scheduled) {
        this.scheduled = true;
        // One batch per turn: writes submitted together commit together.
        setImmediate(() => this.post());
      }
      this.updateRef();
    });
  }

  counters(): WriteCounters {
    return this.mirror;
  }

  /** Also false once the publisher thread is gone: events can no longer reach NATS until a restart. */
  healthy(): boolean {
    return this.failure === undefined && (this.publisher?.alive() ?? true);
  }

  busySeconds(): number {
    return this.worker.performance.eventLoopUtilization().active / 1000;
  }

  /** The publisher thread's busy time so far, when there is one. */
  publisherBusySeconds(): number | undefined {
    return this.publisher?.busySeconds();
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.post();
      // First the publisher, whose drain needs the writer for its acks; once every batch is
      // answered, so that it drains what they committed too.
      if (this.posted.length > 0) await new Promise<void>((resolve) => this.whenAnswered.push(resolve));
      await this.publisher?.close(this.committedBatches);
      this.post();
      this.closed = true;
      if (this.failure === undefined) {
        // Every posted batch is answered before the thread reads 'close'.
        this.worker.ref();
        this.worker.postMessage('close');
      }
      await this.exited;
    })();
    return this.closing;
  }

  private post(): void {
    this.scheduled = false;
    if (this.failure !== undefined) return;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_BATCH);
      this.posted.push(batch.map((b) => b.pending));
      // Cloned now (execution rows were encoded at submit): what a caller changes later is not stored.
      this.worker.postMessage({ ops: encodeWriteOps(batch.map((b) => b.op)) });
    }
  }

  private settle(reply: { outcomes: WireOutcomes; counters: WriteCounters; committedBatches: number }): void {
    const batch = this.posted.shift();
    this.mirror = reply.counters;
    this.committedBatches = reply.committedBatches;
    if (batch !== undefined) {
      settleWrites(batch, decodeOutcomes(reply.outcomes));
    }
    if (this.posted.length === 0) this.answered();
    this.updateRef();
  }

  private answered(): void {
    for (const resolve of this.whenAnswered.splice(0)) resolve();
  }

  private fail(error: Error): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    for (const batch of this.posted.splice(0)) for (const pending of batch) pending.reject(error);
    for (const { pending } of this.queue.splice(0)) pending.reject(error);
    this.answered();
    this.worker.unref();
  }

  /** The thread keeps the process alive only while writes are outstanding. */
  private updateRef(): void {
    if (this.failure !== undefined) return;
    if (this.queue.length > 0 || this.posted.length > 0) this.worker.ref();
    else this.worker.unref();
  }
}
