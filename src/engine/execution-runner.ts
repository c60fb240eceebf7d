import { ActionFailedError, type ActionExecutor, type ActionResult } from '../actions/action.js';
import type { Attempt, Execution } from '../domain/execution.js';
import { backoffDelay, shouldRetry } from '../domain/retry-backoff.js';
import type { Task } from '../domain/task.js';
import { sleep, type Clock, type TimerHandle } from './clock.js';
import type { ExecutionRecorder } from './execution-recorder.js';
import type { HeldStart } from './held-start.js';
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
  /** Made on first use of `signal`: most executions are never cancelled and never need one. */
  private controller: AbortController | undefined;
  /** Set by cancel(). */
  cancelReason: CancellationReason | undefined;
  /** The running attempt's abort, while one runs. */
  onCancel: ((reason: CancellationReason) => void) | undefined;
  /** Set by PauseTask: the current attempt may finish, but no further attempt starts. */
  stopRetries = false;
  waitingForRetry = false;
  /**
   * The first attempt, when it was already recorded as RUNNING together with the claim (the
   * execution did not wait for an overlap slot): the runner starts its action without
   * another store write.
   */
  claimedAttempt: Attempt | undefined;
  /**
   * The execution was claimed ahead (stored PENDING): its claimed attempt starts its action
   * first and its RUNNING is held meanwhile (stored with the final state if the action ends
   * within two turns, else on its own), so no store write delays the action.
   */
  recordWhileStarting = false;
  /**
   * Its final state is decided (no action of it runs any more) and is being stored: it no
   * longer overlaps later occurrences, however long the write takes.
   */
  ended = false;
  /**
   * The first attempt's RUNNING, held back while its action started (recordWhileStarting):
   * taken by the final write if the action ends soon, else stored on its own.
   */
  heldStart: HeldStart | undefined;
  /**
   * The claimed attempt's action, started already by the engine (startAttempt): every action
   * due at one instant starts before any of their bookkeeping, and the runner takes it from here.
   */
  startedAttempt: StartedAttempt | undefined;
  /** Settles when the execution has reached its final state and it is stored. */
  done: Promise<unknown> = Promise.resolve();

  constructor(public execution: Execution, readonly task: Task) {}

  /** Aborts once the execution is cancelled (what a retry's backoff sleeps on). */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.cancelReason !== undefined) this.controller.abort(this.cancelReason);
    }
    return this.controller.signal;
  }

  cancel(reason: string): void {
    if (this.cancelReason !== undefined) return;
    this.cancelReason = new CancellationReason(reason);
    this.controller?.abort(this.cancelReason);
    this.onCancel?.(this.cancelReason);
  }
}

export interface RunnerDeps {
  clock: Clock;
  actions: ActionExecutor;
  recorder: ExecutionRecorder;
  random?: () => number;
  /**
   * Whether a final state the store refused to take (an outage) is still worth retrying;
   * false once the engine has stopped. Default: always.
   */
  keepTrying?: () => boolean;
  /** A store write that failed but did not end the execution (it is retried, or superseded). */
  onStoreError?: (err: unknown, context: string) => void;
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
  let claimed = handle.claimedAttempt;
  handle.claimedAttempt = undefined;

  for (;;) {
    let attempt: Attempt;
    if (claimed !== undefined) {
      attempt = claimed;
      claimed = undefined;
      // An action started already answers a cancel through its own abort (runAttempt).
      if (handle.cancelReason !== undefined && handle.startedAttempt === undefined) {
        endAttempt(attempt, clock.now(), 'CANCELLED', reasonText(handle.cancelReason));
        return finish(handle, deps, 'CANCELLED', reasonText(handle.cancelReason));
      }
    } else {
      if (handle.cancelReason !== undefined) return finish(handle, deps, 'CANCELLED', reasonText(handle.cancelReason));
      attempt = beginAttempt(exec, clock.now());
      let recorded;
      try {
        recorded = await recorder.record(exec);
      } catch (err) {
        // The start could not be stored: the action does not run, and the execution ends FAILED
        // (its final write is retried) rather than staying RUNNING in the store with nobody on it.
        const error = `the store did not take the start of attempt ${attempt.number}: ${reasonText(err)}`;
        endAttempt(attempt, clock.now(), 'FAILED', error);
        return finish(handle, deps, 'FAILED', error);
      }
      // Refused: the execution already has a final state elsewhere (another replica marked it
      // LOST, a cancel won): the action must not run.
      if (recorded === undefined) return exec;
    }
    const number = attempt.number;

    let outcome: AttemptOutcome;
    if (handle.recordWhileStarting) {
      handle.recordWhileStarting = false;
      // The action is started (synchronously up to its first await) before RUNNING is taken;
      // the snapshot is taken now, before the outcome changes anything. Stored before the next
      // write of this execution (finish, RETRYING), or with it; not before the outcome counts
      // (an ended execution overlaps nothing).
      const started = runAttempt(handle, attempt, deps);
      handle.heldStart = recorder.holdStart(exec, attempt.startTime);
      outcome = await started;
    } else {
      outcome = await runAttempt(handle, attempt, deps);
    }
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
    await startStored(handle, deps);
    exec.state = 'RETRYING';
    exec.error = outcome.error;
    await recorder.record(exec).catch((err) => deps.onStoreError?.(err, `RETRYING of ${exec.id}`));
    handle.waitingForRetry = true;
    try {
      await sleep(clock, backoffDelay(task.retryPolicy, number, deps.random), handle.signal);
    } catch {
      return finish(handle, deps, 'CANCELLED', reasonText(handle.cancelReason));
    } finally {
      handle.waitingForRetry = false;
    }
  }
}

/** Move the execution to RUNNING with a new attempt (not yet recorded); returns the attempt. */
export function beginAttempt(exec: Execution, now: number): Attempt {
  const attempt: Attempt = { number: exec.attempt + 1, startTime: now, endTime: undefined, state: 'RUNNING', error: '' };
  exec.state = 'RUNNING';
  exec.attempt = attempt.number;
  exec.startTime ??= now;
  exec.error = '';
  exec.attempts.push(attempt);
  return attempt;
}

function endAttempt(attempt: Attempt, now: number, state: Execution['state'], error: string): void {
  attempt.endTime = now;
  attempt.state = state;
  attempt.error = error;
}

type AttemptOutcome =
  | { kind: 'succeeded'; output: string }
  | { kind: 'failed' | 'timed-out' | 'cancelled'; error: string; output?: string };

/** An attempt whose action has been started: what runAttempt settles. */
export interface StartedAttempt {
  readonly abort: AttemptAbort;
  readonly action: Promise<ActionResult>;
  readonly timer: TimerHandle;
  /** Set by the deadline timer. */
  timedOut: DeadlineExceeded | undefined;
}

/**
 * Start an attempt's action, synchronously up to its first await (a NATS publish is on the
 * wire buffer when this returns), with its deadline and its cancel wired; runAttempt settles it.
 */
export function startAttempt(handle: ExecutionHandle, attempt: Attempt, deps: RunnerDeps): StartedAttempt {
  const task = handle.task;
  // Aborted by the attempt's deadline or by the execution's cancel.
  const abort = new AttemptAbort();
  const timer = deps.clock.setTimer(() => {
    started.timedOut = new DeadlineExceeded(`attempt ${attempt.number} exceeded its deadline of ${task.attemptDeadlineMs} ms`);
    abort.abort(started.timedOut);
  }, task.attemptDeadlineMs);
  if (handle.cancelReason !== undefined) abort.abort(handle.cancelReason);
  else handle.onCancel = (reason) => abort.abort(reason);
  // Never throws: whatever fails here fails the attempt, as a failing action does (the engine
  // starts a burst's actions in one pass, outside any promise).
  let action: Promise<ActionResult>;
  try {
    const context = {
      runHeaders: runHeaders(handle.execution, attempt.number),
      timeoutMs: task.attemptDeadlineMs,
      get signal() {
        return abort.signal;
      },
    };
    action = deps.actions.execute(task.action, context);
  } catch (err) {
    action = Promise.reject(err);
  }
  const started: StartedAttempt = { abort, action, timer, timedOut: undefined };
  return started;
}

async function runAttempt(handle: ExecutionHandle, attempt: Attempt, deps: RunnerDeps): Promise<AttemptOutcome> {
  const started = handle.startedAttempt ?? startAttempt(handle, attempt, deps);
  handle.startedAttempt = undefined;
  try {
    // The race makes an action that ignores its signal unable to hold the execution:
    // a late reply after the deadline or a cancel changes nothing.
    const result = await started.abort.race(started.action);
    return { kind: 'succeeded', output: result.output };
  } catch (err) {
    if (handle.cancelReason !== undefined) return { kind: 'cancelled', error: reasonText(handle.cancelReason) };
    if (started.timedOut !== undefined) return { kind: 'timed-out', error: reasonText(started.timedOut) };
    if (err instanceof ActionFailedError) return { kind: 'failed', error: err.message, output: err.output || undefined };
    return { kind: 'failed', error: err instanceof Error ? err.message : String(err) };
  } finally {
    started.timer.cancel();
    handle.onCancel = undefined;
  }
}

/**
 * One attempt's abort. Its AbortSignal is made only when the action asks for it (an HTTP
 * call does; a NATS publish never): an AbortController and its listeners cost more than the
 * rest of a publish's bookkeeping.
 */
class AttemptAbort {
  private controller: AbortController | undefined;
  private reason: unknown;
  private aborted = false;
  private rejectRace: ((reason: unknown) => void) | undefined;

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
    this.rejectRace?.(reason);
  }

  /** Settles as `promise` does, or rejects with the reason as soon as the attempt is aborted. */
  race<T>(promise: Promise<T>): Promise<T> {
    if (this.aborted) {
      promise.catch(() => undefined); // its late failure changes nothing
      return Promise.reject(this.reason);
    }
    return new Promise<T>((resolve, reject) => {
      this.rejectRace = reject;
      promise.then(resolve, reject);
    });
  }
}

async function finish(
  handle: ExecutionHandle,
  deps: RunnerDeps,
  state: Execution['state'],
  error: string,
): Promise<Execution> {
  const exec = handle.execution;
  handle.ended = true;
  const endTime = deps.clock.now();
  // A start still held goes with the end (one write); one already submitted is awaited first.
  const start = handle.heldStart?.take();
  if (start === undefined) await startStored(handle, deps);
  handle.heldStart = undefined;
  exec.state = state;
  exec.error = error;
  exec.endTime = endTime;
  await deps.recorder.recordFinal(exec, {
    keepTrying: deps.keepTrying ?? (() => true),
    onRetry: (err, delayMs) => deps.onStoreError?.(err, `${exec.state} of ${exec.id} (retried in ${delayMs} ms)`),
    start,
  });
  return exec;
}

/**
 * The held start, submitted now if still held, settled: so the store sees RUNNING before the
 * next write. A failed RUNNING write is superseded by that next write (it carries the attempt).
 */
async function startStored(handle: ExecutionHandle, deps: RunnerDeps): Promise<void> {
  const held = handle.heldStart;
  if (held === undefined) return;
  handle.heldStart = undefined;
  await held.release().catch((err) => deps.onStoreError?.(err, `RUNNING of ${handle.execution.id}`));
}

function reasonText(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason ?? 'cancelled');
}
