import { cloneExecution, type Execution, type ExecutionEvent } from '../domain/execution.js';
import type { Store } from '../store/store.js';
import { sleep, type Clock } from './clock.js';
import { uuidv7 } from './ids.js';

/** Retries of a final state the store would not take: quick at first, then every 5 s. */
const FINAL_WRITE_FIRST_DELAY_MS = 100;
const FINAL_WRITE_MAX_DELAY_MS = 5_000;

/** Called with every stored event: adapters log it, stream it to watchers and publish it. */
export type ExecutionEventListener = (event: ExecutionEvent) => void;

/**
 * The single path by which an execution changes: store the snapshot and its event in one
 * transaction, then tell the listener. An event that was not stored is never emitted.
 */
export class ExecutionRecorder {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly listener: ExecutionEventListener,
  ) {}

  /** `eventId`: the same id for every retry of one change (see newEventId). */
  async record(execution: Execution, options?: { claim?: boolean; eventId?: string }): Promise<ExecutionEvent | undefined> {
    const now = this.clock.now();
    return this.recordSnapshot(cloneExecution(execution), options?.eventId ?? uuidv7(now), now, options?.claim === true);
  }

  /**
   * `record` a turn of the event loop later, of the execution as it is now: when many actions
   * start together (every task due at the same second), each one's message goes out without
   * waiting for the others' bookkeeping.
   */
  recordSoon(execution: Execution): Promise<ExecutionEvent | undefined> {
    const now = this.clock.now();
    const snapshot = cloneExecution(execution);
    if (this.soon.length === 0) setImmediate(() => this.recordQueued());
    return new Promise((resolve, reject) => this.soon.push({ snapshot, time: now, resolve, reject }));
  }

  /** recordSoon's queue: one immediate for all of a turn's, not one each. */
  private soon: Array<{ snapshot: Execution; time: number; resolve: (e: ExecutionEvent | undefined) => void; reject: (err: unknown) => void }> = [];

  private recordQueued(): void {
    const queued = this.soon;
    this.soon = [];
    for (const q of queued) this.recordSnapshot(q.snapshot, uuidv7(q.time), q.time, false).then(q.resolve, q.reject);
  }

  private async recordSnapshot(snapshot: Execution, eventId: string, time: number, claim: boolean): Promise<ExecutionEvent | undefined> {
    const event = await this.store.recordExecution(snapshot, { id: eventId, time }, claim ? { claim: true } : undefined);
    if (event !== undefined) this.listener(event);
    return event;
  }

  newEventId(): string {
    return uuidv7(this.clock.now());
  }

  /**
   * A final state must reach the store: an outage (a NATS leader election, a full disk) is
   * waited out with backoff while `keepTrying` says so, under one event id, so a write that
   * landed although it seemed to fail is not stored twice where the store deduplicates by it.
   */
  async recordFinal(
    execution: Execution,
    options: { claim?: boolean; keepTrying: () => boolean; onRetry?: (err: unknown, delayMs: number) => void },
  ): Promise<ExecutionEvent | undefined> {
    const eventId = this.newEventId();
    for (let delay = FINAL_WRITE_FIRST_DELAY_MS; ; delay = Math.min(delay * 2, FINAL_WRITE_MAX_DELAY_MS)) {
      try {
        return await this.record(execution, { claim: options.claim, eventId });
      } catch (err) {
        if (!options.keepTrying()) throw err;
        options.onRetry?.(err, delay);
        await sleep(this.clock, delay);
      }
    }
  }
}
