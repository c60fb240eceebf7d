import { catchUpSignal } from './catch-up.js';
import { DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import type { ExecutionEvent } from '../../domain/execution.js';
import { SqliteStore } from '../sqlite/sqlite-store.js';
import { executionEventFromMessage } from './execution-from-proto.js';
import { StallWatchdog } from './stall-watchdog.js';

export interface ExecutionViewOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  streamName: string;
  subjectPrefix: string;
  historyPerTask?: number;
  log: Logger;
  /** How long start() may take to replay the stream. */
  timeoutMs: number;
}

interface Waiter {
  sequence: number;
  resolve: (applied: boolean) => void;
}

/**
 * This replica's read model of execution history: an in-memory SqliteStore (same queries, same
 * pruning as the SQLite mode) fed, in stream order, by an ordered consumer over the whole events
 * stream from its first message. Every replica applies the same messages in the same order, so
 * all read models agree; an event's sequence is its stream sequence, global across replicas.
 */
export class ExecutionView {
  private applied = 0;
  private readonly waiters = new Set<Waiter>();
  private readonly listeners = new Set<(event: ExecutionEvent) => void>();
  private readonly executionSubjects: string;
  /** Marks the initial replay done; a no-op afterwards. */
  private onCaughtUp: (m: JsMsg) => void = () => undefined;
  private messages: ConsumerMessages | undefined;
  /** Identifies the current consumer: messages of a replaced one are ignored. */
  private consumerToken: object | undefined;
  private watchdog: StallWatchdog | undefined;
  private closed = false;

  private constructor(
    readonly store: SqliteStore,
    private readonly options: ExecutionViewOptions,
  ) {
    this.executionSubjects = `${options.subjectPrefix}.executions.`;
  }

  /** Replay the stream up to its last message at the time of the call, then keep following it. */
  static async start(options: ExecutionViewOptions): Promise<ExecutionView> {
    const store = SqliteStore.open(':memory:', { historyPerTask: options.historyPerTask });
    const view = new ExecutionView(store, options);
    try {
      await view.follow();
      return view;
    } catch (err) {
      await view.close();
      throw err;
    }
  }

  /** Stream sequence of the last message applied (or skipped: task events, refused changes). */
  get appliedSequence(): number {
    return this.applied;
  }

  /** Called with each event applied from the stream, in stream order; returns the unsubscribe. */
  onEvent(listener: (event: ExecutionEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves true once the message at `sequence` has been applied; false after `timeoutMs` or close. */
  waitFor(sequence: number, timeoutMs: number): Promise<boolean> {
    if (this.applied >= sequence) return Promise.resolve(true);
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        sequence,
        resolve: (applied) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve(applied);
        },
      };
      const timer = setTimeout(() => waiter.resolve(false), timeoutMs);
      this.waiters.add(waiter);
    });
  }

  /**
   * Apply an event out of turn (the consumer is late): the read model is idempotent by sequence,
   * so the consumer's own delivery of it later changes nothing.
   */
  applyNow(event: ExecutionEvent): void {
    if (this.closed) return;
    if (this.store.applyReplicatedEvent(event)) this.emit(event);
  }

  /** Whether the event at `sequence` is in the read model (false: not applied yet, or refused). */
  async holds(sequence: number): Promise<boolean> {
    if (this.closed) return false;
    const [event] = await this.store.eventsAfter(sequence - 1, 1);
    return event?.sequence === sequence;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const waiter of [...this.waiters]) waiter.resolve(false);
    this.listeners.clear();
    this.watchdog?.stop();
    await this.stopConsumer();
    await this.store.close();
  }

  private async follow(): Promise<void> {
    const { jsm, streamName, log, timeoutMs } = this.options;
    const state = (await jsm.streams.info(streamName)).state;
    const target = state.last_seq;
    const { ready, done: markCaughtUp, isDone: caughtUp } = catchUpSignal(state.messages === 0);

    this.onCaughtUp = (m) => {
      if (!caughtUp() && (m.seq >= target || m.info.pending === 0)) markCaughtUp();
    };
    await this.startConsumer();
    this.watchdog = new StallWatchdog({
      log,
      what: 'execution view',
      behind: async () => (await jsm.streams.info(streamName)).state.last_seq > this.applied,
      restart: () => this.startConsumer(),
    });

    const deadline = Date.now() + timeoutMs;
    while (!caughtUp()) {
      await Promise.race([ready, new Promise((resolve) => setTimeout(resolve, 250))]);
      if (caughtUp()) break;
      // Nothing will arrive if everything up to the target expired meanwhile.
      const now = (await jsm.streams.info(streamName)).state;
      if (now.messages === 0 || now.first_seq > target) markCaughtUp();
      else if (Date.now() > deadline) {
        throw new Error(`execution view: replaying stream ${streamName} took longer than ${timeoutMs} ms (at ${this.applied} of ${target})`);
      }
    }
    log.debug({ stream: streamName, sequence: this.applied }, 'execution view caught up');
  }

  /** A new ordered consumer from the message after the last one applied (the old one, if any, closed). */
  private async startConsumer(): Promise<void> {
    await this.stopConsumer();
    const { js, streamName, log } = this.options;
    const consumer = await js.consumers.get(
      streamName,
      this.applied === 0
        ? { deliver_policy: DeliverPolicy.All }
        : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.applied + 1 },
    );
    if (this.closed) return;
    const token = {};
    this.consumerToken = token;
    const messages = await consumer.consume({
      max_messages: 1000,
      // Short pulls: after a reconnect the consumer re-checks itself on this period (the default
      // 30 s would leave the read model stale that long after a NATS restart).
      expires: 2_000,
      callback: (m: JsMsg) => {
        if (this.consumerToken !== token) return;
        this.watchdog?.progress();
        this.onMessage(m);
        this.onCaughtUp(m);
      },
    });
    if (this.closed || this.consumerToken !== token) {
      await messages.close();
      return;
    }
    this.messages = messages;
    void messages.closed().then((err) => {
      if (!this.closed && this.messages === messages) log.error({ err }, 'execution view: the stream consumer stopped');
    });
  }

  private async stopConsumer(): Promise<void> {
    const messages = this.messages;
    this.messages = undefined;
    this.consumerToken = undefined;
    try {
      await messages?.close();
    } catch {
      // already gone with its node or the connection
    }
  }

  private onMessage(m: JsMsg): void {
    if (this.closed || m.seq <= this.applied) return;
    if (m.subject.startsWith(this.executionSubjects)) {
      try {
        const event = executionEventFromMessage(m.data, m.seq);
        if (this.store.applyReplicatedEvent(event)) this.emit(event);
      } catch (err) {
        this.options.log.error({ err, sequence: m.seq, subject: m.subject }, 'execution view: skipped an event it could not apply');
      }
    }
    this.applied = m.seq;
    for (const waiter of this.waiters) if (waiter.sequence <= m.seq) waiter.resolve(true);
  }

  private emit(event: ExecutionEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.options.log.error({ err }, 'execution event listener failed');
      }
    }
  }
}
