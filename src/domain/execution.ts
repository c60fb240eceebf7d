/** The execution model: one occurrence's handling, its attempts and its events. */

export type ExecutionState =
  | 'PENDING'
  | 'RUNNING'
  | 'SUCCEEDED'
  | 'FAILED'
  | 'TIMED_OUT'
  | 'CANCELLED'
  | 'RETRYING'
  | 'SKIPPED'
  | 'MISSED'
  | 'LOST';

export type Trigger = 'SCHEDULE' | 'MANUAL' | 'CATCHUP';

export const EXECUTION_STATES: readonly ExecutionState[] = [
  'PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELLED', 'RETRYING', 'SKIPPED', 'MISSED', 'LOST',
];

const FINAL_STATES: ReadonlySet<ExecutionState> = new Set([
  'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELLED', 'SKIPPED', 'MISSED', 'LOST',
]);

/** Final states are final: the engine and the stores refuse to move an execution out of one. */
export function isFinalState(state: ExecutionState): boolean {
  return FINAL_STATES.has(state);
}

/** States that count as a failure for pause_after_failures and alerting. */
export function isFailureState(state: ExecutionState): boolean {
  return state === 'FAILED' || state === 'TIMED_OUT' || state === 'LOST';
}

export interface Attempt {
  number: number;
  startTime: number;
  endTime: number | undefined;
  state: ExecutionState;
  error: string;
}

export interface Execution {
  id: string;
  taskName: string;
  /** Epoch ms of the occurrence (or of the RunTask call). */
  scheduledTime: number;
  startTime: number | undefined;
  endTime: number | undefined;
  state: ExecutionState;
  attempt: number;
  trigger: Trigger;
  error: string;
  node: string;
  attempts: Attempt[];
  output: string;
}

/** One state change, as stored, streamed and published. */
export interface ExecutionEvent {
  /** Assigned by the store; strictly increasing per store. */
  sequence: number;
  id: string;
  time: number;
  execution: Execution;
}

/** A deep copy: a snapshot the caller may keep while the execution goes on changing. */
export function cloneExecution(e: Execution): Execution {
  return {
    id: e.id,
    taskName: e.taskName,
    scheduledTime: e.scheduledTime,
    startTime: e.startTime,
    endTime: e.endTime,
    state: e.state,
    attempt: e.attempt,
    trigger: e.trigger,
    error: e.error,
    node: e.node,
    attempts: e.attempts.map((a) => ({ number: a.number, startTime: a.startTime, endTime: a.endTime, state: a.state, error: a.error })),
    output: e.output,
  };
}

/** How late the first attempt started, in ms; undefined before it did. */
export function executionLag(execution: Execution): number | undefined {
  return execution.startTime === undefined ? undefined : execution.startTime - execution.scheduledTime;
}
