import { cloneExecution, type Execution, type ExecutionEvent } from '../domain/execution.js';
import type { Store } from '../store/store.js';
import { sleep, type Clock } from './clock.js';
import { HeldStart, type Change } from './held-start.js';
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
   * The start of an attempt whose action was started just now, held back for two turns of the
   * event loop (the NATS flush that confirms a publish is answered in between): the runner takes
   * it and records it with the end if the action has ended by then (recordFinal's `start`);
   * otherwise it is submitted on its own, together with every other start held in the same
   * turn. The snapshot is of the execution as it is now. Turns, not the clock: an action that
   * never ends (under a fake clock too) still has its RUNNING stored at once. A store that
   * cannot write two changes at once gets it after one turn, as before holding existed.
   * `startedAt`: when the action started, the event's time (a start made in a burst's first
   * pass is held a moment later, in its second).
   */
  holdStart(execution: Execution, startedAt: number = this.clock.now()): HeldStart {
    const now = startedAt;
    const held = new HeldStart({ execution: cloneExecution(execution), eventId: uuidv7(now), time: now }, (c) =>
      this.recordSnapshot(c.execution, c.eventId, c.time, false));
    if (this.held.length === 0) {
      setImmediate(() => {
        // Starts held from here on are a new batch, with turns of their own.
        const batch = this.held;
        this.held = [];
        if (this.store.recordTwoChanges === undefined) releaseAll(batch);
        else setImmediate(() => releaseAll(batch));
      });
    }
    this.held.push(held);
    return held;
  }

  /** Starts held in the current turn: one pair of immediates for all of them, not one each. */
  private held: HeldStart[] = [];

  private async recordSnapshot(snapshot: Execution, eventId: string, time: number, claim: boolean): Promise<ExecutionEvent | undefined> {
    const event = await this.store.recordExecution(snapshot, { id: eventId, time }, claim ? { claim: true } : undefined);
    if (event !== undefined) this.listener(event);
    return event;
  }

  /** `start` and then the execution as it is now, in one write: both events go to the listener, in order. */
  private async recordAfter(start: Change, execution: Execution, eventId: string): Promise<ExecutionEvent | undefined> {
    const now = this.clock.now();
    const events = await this.store.recordTwoChanges!(
      { execution: start.execution, event: { id: start.eventId, time: start.time } },
      { execution: cloneExecution(execution), event: { id: eventId, time: now } },
    );
    if (events === undefined) return undefined;
    this.listener(events[0]);
    this.listener(events[1]);
    return events[1];
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
    options: {
      claim?: boolean;
      keepTrying: () => boolean;
      onRetry?: (err: unknown, delayMs: number) => void;
      /** The attempt's start, taken from holdStart: recorded just before, in the same write where the store can. */
      start?: Change;
    },
  ): Promise<ExecutionEvent | undefined> {
    const eventId = this.newEventId();
    let start = options.start;
    for (let delay = FINAL_WRITE_FIRST_DELAY_MS; ; delay = Math.min(delay * 2, FINAL_WRITE_MAX_DELAY_MS)) {
      try {
        if (start !== undefined && this.store.recordTwoChanges === undefined) {
          // A store without two-change writes: the start first (once), then the end.
          if ((await this.recordSnapshot(start.execution, start.eventId, start.time, false)) === undefined) return undefined;
          start = undefined;
        }
        return start === undefined
          ? await this.record(execution, { claim: options.claim, eventId })
          : await this.recordAfter(start, execution, eventId);
      } catch (err) {
        if (!options.keepTrying()) throw err;
        options.onRetry?.(err, delay);
        await sleep(this.clock, delay);
      }
    }
  }
}

/** Submit every start of a batch still held; a failure reaches its runner, which awaits release() before its next write. */
function releaseAll(batch: HeldStart[]): void {
  for (const h of batch) h.release().catch(() => undefined);
}
