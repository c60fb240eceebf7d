import type { Execution, ExecutionEvent } from '../domain/execution.js';

/** A change of an execution as it was when taken: its event's id and time are fixed then. */
export interface Change {
  execution: Execution;
  eventId: string;
  time: number;
}

/**
 * The RUNNING snapshot of an attempt whose action has just started, held back for a moment
 * (ExecutionRecorder.holdStart): when the action ends meanwhile, as a NATS publish usually
 * does, the runner takes it and the store records it in the same write as the end (two
 * events, one row update, one reply); otherwise it is submitted on its own.
 */
export class HeldStart {
  private written: Promise<ExecutionEvent | undefined> | undefined;
  private taken = false;

  constructor(
    readonly change: Change,
    private readonly submit: (change: Change) => Promise<ExecutionEvent | undefined>,
  ) {}

  /** The start, unless it was submitted already: the caller then records it with what followed. */
  take(): Change | undefined {
    if (this.written !== undefined || this.taken) return undefined;
    this.taken = true;
    return this.change;
  }

  /** Submit it now unless it was taken or submitted; settles once it is stored (undefined if refused or taken). */
  release(): Promise<ExecutionEvent | undefined> {
    if (this.taken) return Promise.resolve(undefined);
    this.written ??= this.submit(this.change);
    return this.written;
  }
}
