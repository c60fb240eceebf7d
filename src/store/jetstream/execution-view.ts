import { catchUpSignal } from './catch-up.js';
import { DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import type { ExecutionEvent } from '../../domain/execution.js';
import { SqliteStore } from '../sqlite/sqlite-store.js';
import { executionEventFromMessage } from './execution-from-proto.js';
import { withDeadline } from './nats-errors.js';
import { StallWatchdog } from './stall-watchdog.js';

/** How long a writer waits for the consumer to deliver its event before reading the gap itself. */
const FILL_AFTER_MS = 150;
/** One direct read of a stream message. */
const FILL_TRY_MS = 2_000;
/** A gap wider than this is left to the consumer (and its watchdog): too many single reads. */
const MAX_FILL = 2_000;
/** Creating (or closing) a consumer; past this the watchdog tries again on its next round. */
const CONSUMER_START_MS = 10_000;
const CONSUMER_CLOSE_MS = 1_000;

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
 *
 * Two things keep it current when the consumer is not: a writer waiting for its own event reads
 * the missing messages straight from the stream, in order (catchUp); and a consumer that stops
 * delivering while the stream grows (its node died, nats.js did not notice) is replaced by the
 * stall watchdog. Either way the messages are applied strictly in sequence order, once.
 */
export class ExecutionView {
  private applied = 0;
  /** The last sequence the current consumer delivered (or started after): its own progress. */
  private delivered = 0;
  /** Bumped by every consumer (re)start: a start that finishes after a newer one gives way. */
  private generation = 0;
  private fillTarget = 0;
  private fillDeadline = 0;
  private filling: Promise<void> | undefined;
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
   * Resolves true once the message at `sequence` has been applied, false after `timeoutMs` (or
   * close). The consumer normally delivers it within milliseconds; when it does not, the missing
   * messages up to `sequence` are read from the stream one by one and applied in order, so a
   * writer's wait does not depend on the consumer being alive.
   */
  async catchUp(sequence: number, timeoutMs: number): Promise<boolean> {
    if (this.applied >= sequence) return true;
    const deadline = Date.now() + timeoutMs;
    if (await this.waitFor(sequence, Math.min(FILL_AFTER_MS, timeoutMs))) return true;
    if (this.closed) return false;
    if (sequence - this.applied <= MAX_FILL) this.fill(sequence, deadline);
    return this.waitFor(sequence, deadline - Date.now());
  }

  /** catchUp to the stream's last message now; false when that took longer than `timeoutMs`. */
  async catchUpWithStream(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    const { jsm, streamName } = this.options;
    try {
      const last = (await withDeadline(jsm.streams.info(streamName), timeoutMs, 'read the stream state')).state.last_seq;
      return await this.catchUp(last, deadline - Date.now());
    } catch {
      return false;
    }
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
      // The consumer's own progress, not `applied`: direct reads may have moved that on while
      // the consumer itself is dead.
      behind: async () => (await jsm.streams.info(streamName)).state.last_seq > this.delivered,
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

  /**
   * A new ordered consumer from the message after the last one applied (the old one, if any,
   * closed). Bounded: a NATS call that does not answer fails the start (the watchdog retries).
   */
  private async startConsumer(): Promise<void> {
    const generation = ++this.generation;
    await this.stopConsumer();
    const { js, streamName, log } = this.options;
    const from = this.applied;
    const consumer = await withDeadline(
      js.consumers.get(
        streamName,
        from === 0 ? { deliver_policy: DeliverPolicy.All } : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from + 1 },
      ),
      CONSUMER_START_MS,
      'execution view: create the stream consumer',
    );
    if (this.closed || generation !== this.generation) return;
    const token = {};
    this.consumerToken = token;
    this.delivered = from;
    const started = consumer.consume({
      max_messages: 1000,
      // Short pulls: after a reconnect the consumer re-checks itself on this period (the default
      // 30 s would leave the read model stale that long after a NATS restart).
      expires: 2_000,
      callback: (m: JsMsg) => {
        if (this.consumerToken !== token) return;
        this.delivered = Math.max(this.delivered, m.seq);
        this.watchdog?.progress();
        this.onMessage(m);
        this.onCaughtUp(m);
      },
    });
    const messages = await withDeadline(started, CONSUMER_START_MS, 'execution view: start consuming', (late) => void closeQuietly(late));
    if (this.closed || this.consumerToken !== token) {
      await closeQuietly(messages);
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
    if (messages !== undefined) await closeQuietly(messages);
  }

  /** Read messages applied+1 .. fillTarget from the stream, in order; one loop at a time. */
  private fill(target: number, deadline: number): void {
    this.fillTarget = Math.max(this.fillTarget, target);
    this.fillDeadline = Math.max(this.fillDeadline, deadline);
    if (this.filling === undefined) this.options.log.debug({ from: this.applied + 1, to: target }, 'execution view: the consumer lags; reading from the stream');
    this.filling ??= this.runFill().finally(() => {
      this.filling = undefined;
    });
  }

  private async runFill(): Promise<void> {
    const { jsm, streamName, log } = this.options;
    let failures = 0;
    while (!this.closed && this.applied < this.fillTarget && Date.now() < this.fillDeadline) {
      const seq = this.applied + 1;
      try {
        const m = await withDeadline(jsm.streams.getMessage(streamName, { seq }), FILL_TRY_MS, 'read a stream message');
        failures = 0;
        // The consumer may have applied it meanwhile; then go on from where it is.
        if (this.closed || this.applied !== seq - 1) continue;
        // No message at a sequence below an acknowledged one: removed (max_age, limits).
        if (m === null) this.markApplied(seq);
        else this.applyMessage(seq, m.subject, m.data);
      } catch (err) {
        failures++;
        log.debug({ err: (err as Error).message, sequence: seq }, 'execution view: direct read failed');
        await new Promise((r) => setTimeout(r, Math.min(500, 25 * 2 ** failures)));
      }
    }
  }

  private onMessage(m: JsMsg): void {
    if (this.closed || m.seq <= this.applied) return;
    this.applyMessage(m.seq, m.subject, m.data);
  }

  /** The one way a message gets into the read model: the next sequence, once. */
  private applyMessage(seq: number, subject: string, data: Uint8Array): void {
    if (this.closed || seq <= this.applied) return;
    if (subject.startsWith(this.executionSubjects)) {
      try {
        const event = executionEventFromMessage(data, seq);
        if (this.store.applyReplicatedEvent(event)) this.emit(event);
      } catch (err) {
        this.options.log.error({ err, sequence: seq, subject }, 'execution view: skipped an event it could not apply');
      }
    }
    this.markApplied(seq);
  }

  private markApplied(seq: number): void {
    this.applied = seq;
    for (const waiter of this.waiters) if (waiter.sequence <= seq) waiter.resolve(true);
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

/** Close a consumer's message loop without waiting long: one that lived on a dead node may never confirm. */
async function closeQuietly(messages: ConsumerMessages): Promise<void> {
  try {
    await withDeadline(messages.close(), CONSUMER_CLOSE_MS, 'close the stream consumer');
  } catch {
    // already gone with its node or the connection
  }
}
