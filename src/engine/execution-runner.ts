import { ActionFailedError, type ActionExecutor } from '../actions/action.js';
import type { Attempt, Execution } from '../domain/execution.js';
import { backoffDelay, shouldRetry } from '../domain/retry-backoff.js';
import type { Task } from '../domain/task.js';
import { sleep, type Clock } from './clock.js';
import type { ExecutionRecorder } from './execution-recorder.js';
import { runHeaders } from './run-headers.js';

/** Why an execution was stopped from outside; becomes the CANCELLED execution's error. */
export class CancellationReason extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CancellationReason';
  }
}

/** The attempt ran past its deadline. */
class DeadlineExceeded extends Error {}

/** A live execution: what the engine needs to cancel it or stop its retries. */
export class ExecutionHandle {
  readonly controller = new AbortController();
  /** Set by PauseTask: the current attempt may finish, but no further attempt starts. */
  stopRetries = false;
  waitingForRetry = false;
  /** Settles when the execution has reached its final state and it is stored. */
  done: Promise<unknown> = Promise.resolve();

  constructor(public execution: Execution, readonly task: Task) {}

  cancel(reason: string): void {
    if (!this.controller.signal.aborted) this.controller.abort(new CancellationReason(reason));
  }
}

export interface RunnerDeps {
  clock: Clock;
  actions: ActionExecutor;
  recorder: ExecutionRecorder;
  random?: () => number;
}

/**
 * Runs one execution through its attempts: RUNNING -> SUCCEEDED | FAILED | TIMED_OUT, with
 * RETRYING in between, CANCELLED when its signal aborts. Every change is recorded. Resolves
 * with the final execution; never rejects for action failures.
 */
export async function runExecution(handle: ExecutionHandle, deps: RunnerDeps): Promise<Execution> {
  const { clock, recorder } = deps;
  const task = handle.task;
  const exec = handle.execution;
  const signal = handle.controller.signal;

  for (let number = exec.attempt + 1; ; number++) {
    if (signal.aborted) return finish(handle, deps, 'CANCELLED', reasonText(signal.reason));
    const start = clock.now();
    const attempt: Attempt = { number, startTime: start, endTime: undefined, state: 'RUNNING', error: '' };
    exec.state = 'RUNNING';
    exec.attempt = number;
    exec.startTime ??= start;
    exec.error = '';
    exec.attempts.push(attempt);
    // Refused: the execution already has a final state elsewhere (another replica marked it
    // LOST, a cancel won): the action must not run.
    if ((await recorder.record(exec)) === undefined) return exec;

    const outcome = await runAttempt(handle, attempt, deps);
    attempt.endTime = clock.now();
    if (outcome.kind === 'succeeded') {
      attempt.state = 'SUCCEEDED';
      exec.output = outcome.output;
      return finish(handle, deps, 'SUCCEEDED', '');
    }
    if (outcome.kind === 'cancelled') {
      attempt.state = 'CANCELLED';
      attempt.error = outcome.error;
      return finish(handle, deps, 'CANCELLED', outcome.error);
    }
    attempt.state = outcome.kind === 'timed-out' ? 'TIMED_OUT' : 'FAILED';
    attempt.error = outcome.error;
    if (outcome.output !== undefined) exec.output = outcome.output;
    if (!shouldRetry(task.retryPolicy, number) || handle.stopRetries) {
      return finish(handle, deps, attempt.state, outcome.error);
    }
    exec.state = 'RETRYING';
    exec.error = outcome.error;
    await recorder.record(exec);
    handle.waitingForRetry = true;
    try {
      await sleep(clock, backoffDelay(task.retryPolicy, number, deps.random), signal);
    } catch {
      return finish(handle, deps, 'CANCELLED', reasonText(signal.reason));
    } finally {
      handle.waitingForRetry = false;
    }
  }
}

type AttemptOutcome =
  | { kind: 'succeeded'; output: string }
  | { kind: 'failed' | 'timed-out' | 'cancelled'; error: string; output?: string };

async function runAttempt(handle: ExecutionHandle, attempt: Attempt, deps: RunnerDeps): Promise<AttemptOutcome> {
  const task = handle.task;
  const deadline = new AbortController();
  const timer = deps.clock.setTimer(
    () => deadline.abort(new DeadlineExceeded(`attempt ${attempt.number} exceeded its deadline of ${task.attemptDeadlineMs} ms`)),
    task.attemptDeadlineMs,
  );
  const signal = AbortSignal.any([handle.controller.signal, deadline.signal]);
  try {
    const headers = runHeaders(handle.execution, attempt.number);
    // The race makes an action that ignores its signal unable to hold the execution:
    // a late reply after the deadline or a cancel changes nothing.
    const result = await raceAbort(deps.actions.execute(task.action, { runHeaders: headers, signal, timeoutMs: task.attemptDeadlineMs }), signal);
    return { kind: 'succeeded', output: result.output };
  } catch (err) {
    if (handle.controller.signal.aborted) return { kind: 'cancelled', error: reasonText(handle.controller.signal.reason) };
    if (deadline.signal.aborted) return { kind: 'timed-out', error: reasonText(deadline.signal.reason) };
    if (err instanceof ActionFailedError) return { kind: 'failed', error: err.message, output: err.output || undefined };
    return { kind: 'failed', error: err instanceof Error ? err.message : String(err) };
  } finally {
    timer.cancel();
  }
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e) => { signal.removeEventListener('abort', onAbort); reject(e); },
    );
  });
}

async function finish(
  handle: ExecutionHandle,
  deps: RunnerDeps,
  state: Execution['state'],
  error: string,
): Promise<Execution> {
  const exec = handle.execution;
  exec.state = state;
  exec.error = error;
  exec.endTime = deps.clock.now();
  await deps.recorder.record(exec);
  return exec;
}

function reasonText(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason ?? 'cancelled');
}
