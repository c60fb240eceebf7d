import { cloneExecution, type Execution, type ExecutionEvent } from '../domain/execution.js';
import type { Store } from '../store/store.js';
import type { Clock } from './clock.js';
import { uuidv7 } from './ids.js';

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
    const snapshot = cloneExecution(execution);
    const claim = options?.claim === true ? { claim: true } : undefined;
    const event = await this.store.recordExecution(snapshot, { id: options?.eventId ?? uuidv7(now), time: now }, claim);
    if (event !== undefined) this.listener(event);
    return event;
  }

  newEventId(): string {
    return uuidv7(this.clock.now());
  }
}
