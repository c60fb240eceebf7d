import type { ActionExecutor } from '../actions/action.js';
import type { Attempt, Execution, ExecutionEvent, Trigger } from '../domain/execution.js';
import { cloneExecution, isFailureState } from '../domain/execution.js';
import { FailedPreconditionError, ExecutionNotFoundError } from '../domain/errors.js';
import { MAX_RECORDED_MISSES, planMisfire } from '../domain/misfire.js';
import { decideOverlap, skipReason } from '../domain/overlap.js';
import { compileSchedule, type Schedule } from '../domain/schedule.js';
import { SharedTaskParts, taskPlanOf, type ScheduleSpec, type Task, type TaskPlan } from '../domain/task.js';
import type { Store } from '../store/store.js';
import { sleep, type Clock, type TimerHandle } from './clock.js';
import { ExecutionRecorder, type ExecutionEventListener } from './execution-recorder.js';
import { beginAttempt, ExecutionHandle, runExecution, startAttempt, type RunnerDeps } from './execution-runner.js';
import { uuidv7 } from './ids.js';
import { ClaimedOccurrences } from './claimed-occurrences.js';
import { KeyedMutex } from './keyed-mutex.js';
import type { Placement } from './placement.js';
import { TimerHeap } from './timer-heap.js';

export interface EngineOptions {
  store: Store;
  clock: Clock;
  actions: ActionExecutor;
  /** This replica's name, recorded on every execution. */
  node: string;
  onEvent: ExecutionEventListener;
  /** An occurrence this much later than its time counts as missed (misfire policy applies). */
  misfireThresholdMs?: number;
  /** The single timer is re-armed at most this far ahead, so clock jumps are noticed. */
  maxTimerMs?: number;
  random?: () => number;
  /** Store or bookkeeping failures inside the engine (never action failures: those are executions). */
  onError?: (err: unknown, context: string) => void;
  /** With replicas: how long to wait before claiming an occurrence (0 for the task's owner). */
  placement?: Placement;
  /**
   * With replicas: whether another node still runs. Unfinished executions of dead nodes (and
   * this node's own, from before a restart) are marked LOST. Default: none alive (one replica).
   */
  isNodeAlive?: (node: string) => boolean;
  /**
   * Claim each occurrence this long before its time (stored PENDING), so at the time its
   * action starts at once and RUNNING is stored alongside. Default 500 ms; always 0 with
   * `placement`, where the claim decides which replica runs it. At most 900 ms, below the
   * shortest period (1 s), so a task has at most one occurrence claimed ahead.
   */
  claimAheadMs?: number;
}

interface TaskEntry {
  /** What scheduling reads: the whole task while it is held, else the plan it was loaded from. */
  plan: TaskPlan;
  /**
   * The whole task, which running it needs: held from every write through this engine and
   * from a fire's read of the store (see wholeTask) until it is let go (see letGo).
   */
  task: Task | undefined;
  schedule: Schedule;
  /** Latest occurrence handled (fired, skipped or missed). */
  lastOccurrence: number | undefined;
  /** Bumped whenever the whole task is held or let go: a read of the store that began before is stale. */
  version: number;
}

type HeldEntry = TaskEntry & { task: Task };

function isHeld(entry: TaskEntry): entry is HeldEntry {
  return entry.task !== undefined;
}

function hold(entry: TaskEntry, task: Task): void {
  entry.task = task;
  entry.plan = task;
  entry.version++;
}

interface TaskRuntime {
  active: Map<string, ExecutionHandle>;
  buffered: Execution | undefined;
}

const DEFAULT_MISFIRE_THRESHOLD_MS = 5_000;
const DEFAULT_MAX_TIMER_MS = 30_000;
const DEFAULT_CLAIM_AHEAD_MS = 500;
const MAX_CLAIM_AHEAD_MS = 900;
/**
 * A task loaded from its plan keeps its whole task after an execution only if it fires again
 * within this: a task firing every few seconds is not read from the store each time, and a
 * million hourly tasks do not stay decoded in memory after their first fire.
 */
const HOLD_WHOLE_TASK_MS = 5 * 60_000;

/**
 * The scheduler core: one timer over a min-heap of each enabled task's next occurrence.
 * A due occurrence is claimed in the store (exactly once; without replicas 500 ms ahead of its
 * time, see claimAhead), put through the overlap policy and run; occurrences found long past go
 * through the misfire policy. No I/O of its own: the store,
 * the actions and the event listener are injected.
 */
export class Engine {
  private readonly store: Store;
  private readonly clock: Clock;
  private readonly recorder: ExecutionRecorder;
  private readonly heap = new TimerHeap();
  private readonly tasks = new Map<string, TaskEntry>();
  private readonly runtimes = new Map<string, TaskRuntime>();
  private readonly handles = new Map<string, ExecutionHandle>();
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly fireChain = new KeyedMutex();
  /** Serialises every read-modify-write of one task (control plane and engine alike). */
  readonly taskLock = new KeyedMutex();
  private timer: TimerHandle | undefined;
  /** When the timer fires (to re-arm only when something is due sooner). */
  private timerAt = Infinity;
  private readonly claimed = new ClaimedOccurrences();
  /** Shared frozen parts of the tasks held here (heap per task at a million tasks). */
  private readonly parts = new SharedTaskParts();
  /** Occurrences whose claim is being written (task -> time). */
  private readonly claiming = new Map<string, number>();
  private readonly claimAheadMs: number;
  /** Between stop() and the end of its grace: claimed occurrences still start at their time. */
  private stopping = false;
  /** Occurrences waiting out their placement delay. */
  private readonly delayed = new Set<TimerHandle>();
  private running = false;
  private readonly misfireThresholdMs: number;
  private readonly maxTimerMs: number;
  /** What every execution's runner uses (one object, not one per execution). */
  private readonly runnerDeps: RunnerDeps;

  constructor(private readonly options: EngineOptions) {
    this.store = options.store;
    this.clock = options.clock;
    this.recorder = new ExecutionRecorder(options.store, options.clock, options.onEvent);
    this.misfireThresholdMs = options.misfireThresholdMs ?? DEFAULT_MISFIRE_THRESHOLD_MS;
    this.maxTimerMs = options.maxTimerMs ?? DEFAULT_MAX_TIMER_MS;
    this.claimAheadMs = options.placement !== undefined
      ? 0
      : Math.min(Math.max(0, options.claimAheadMs ?? DEFAULT_CLAIM_AHEAD_MS), MAX_CLAIM_AHEAD_MS);
    this.runnerDeps = {
      clock: this.clock,
      actions: options.actions,
      recorder: this.recorder,
      random: options.random,
      keepTrying: () => this.running || this.stopping,
      onStoreError: (err, context) => this.options.onError?.(err, context),
    };
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Mark what a dead process left unfinished as LOST, load every task, start the timer. */
  async start(): Promise<{ tasks: number; lost: number }> {
    const now = this.clock.now();
    // Claimed ahead by this node before it stopped and still in the future: they never started,
    // so they run at their time instead of being LOST.
    const { lost, kept } = await this.recoverUnfinished(undefined, (e) =>
      e.node === this.options.node && e.state === 'PENDING' && e.attempts.length === 0 && e.trigger === 'SCHEDULE' && e.scheduledTime > now);
    // Plans where the store has them: a fire reads its whole task (wholeTask), and a start at a
    // million tasks does not decode a million tasks it may not fire for hours.
    const plans = await this.store.allTaskPlans?.();
    const tasks = plans === undefined ? await this.store.allTasks() : undefined;
    const lastByTask = await this.store.lastOccurrences?.();
    this.heap.deferOrder(); // ordered once, at the first look (arm below)
    // Shared schedule specs are compiled once each here, not looked up a million times.
    const compiled = new Map<ScheduleSpec, Schedule>();
    const scheduleOf = (spec: ScheduleSpec) => {
      let schedule = compiled.get(spec);
      if (schedule === undefined) {
        schedule = compileSchedule(spec);
        if (Object.isFrozen(spec)) compiled.set(spec, schedule); // shared; one of its own would be used once
      }
      return schedule;
    };
    for (const plan of plans ?? []) {
      const shared = this.parts.adoptPlan(plan);
      this.load(shared, undefined, scheduleOf(shared.schedule), lastByTask !== undefined ? lastByTask.get(plan.name) : await this.store.lastOccurrence(plan.name));
    }
    for (const task of tasks ?? []) {
      // A million tasks are a million copies of a few schedules, label sets and actions. (share,
      // not adopt: a store may hand out objects it keeps, as the JetStream store's cache does.)
      const shared = this.parts.share(task);
      this.load(shared, shared, scheduleOf(shared.schedule), lastByTask !== undefined ? lastByTask.get(task.name) : await this.store.lastOccurrence(task.name));
    }
    this.running = true;
    for (const exec of kept) {
      const entry = this.tasks.get(exec.taskName);
      if (entry !== undefined && this.stillOccurs(entry, exec.scheduledTime)) this.claimed.add(exec);
      else this.track(this.cancelPending(exec, 'cancelled: the task changed while the service was stopped'));
    }
    this.arm();
    return { tasks: (plans ?? tasks ?? []).length, lost };
  }

  /** Stop firing; let running executions finish for `graceMs`, then cancel the rest. */
  async stop(graceMs: number): Promise<void> {
    this.running = false;
    this.cancelTimer();
    for (const t of this.delayed) t.cancel();
    this.delayed.clear();
    const all = () => Promise.allSettled([...this.inflight]);
    if ((this.inflight.size > 0 || this.claimed.size > 0) && graceMs > 0) {
      this.stopping = true;
      await Promise.race([this.drain(), sleep(this.clock, graceMs)]);
      this.stopping = false;
    }
    for (const exec of this.claimed.takeAll()) this.track(this.cancelPending(exec, 'cancelled: the service is shutting down'));
    for (const handle of this.handles.values()) handle.cancel('cancelled: the service is shutting down');
    for (const [name, rt] of this.runtimes) await this.cancelBuffered(name, rt, 'cancelled: the service is shutting down');
    await all();
  }

  /** A task was created or changed: (re)compute its next occurrence. */
  upsertTask(task: Task): void {
    const previous = this.tasks.get(task.name);
    const shared = this.parts.share(task);
    const entry: TaskEntry = {
      plan: shared,
      task: shared,
      schedule: compileSchedule(task.schedule),
      lastOccurrence: previous?.lastOccurrence,
      version: 0,
    };
    this.tasks.set(task.name, entry);
    if (task.state === 'PAUSED') this.quiesce(task.name, 'cancelled: the task was paused');
    for (const exec of this.claimed.takeTask(task.name)) {
      if (this.stillOccurs(entry, exec.scheduledTime)) this.claimed.add(exec);
      else this.track(this.cancelPending(exec, task.state === 'PAUSED' ? 'cancelled: the task was paused' : 'cancelled: the task changed before this occurrence'));
    }
    this.reschedule(entry);
  }

  /**
   * A task as another replica (or this one) wrote it, seen through the store's task watch.
   * A write that kept the etag only moved the run counters: take them, keep the schedule.
   */
  applyStoredTask(name: string, task: Task | undefined): void {
    const entry = this.tasks.get(name);
    if (task === undefined) {
      if (entry !== undefined) this.removeTask(name);
      return;
    }
    if (entry !== undefined && entry.task?.etag === task.etag) {
      // A copy: the store's watch may keep this object, and the engine changes what it holds (countRun).
      hold(entry, this.parts.share(task));
      return;
    }
    this.upsertTask(task);
  }

  /** A task was deleted: stop its schedule and cancel its executions (their final events still go out). */
  removeTask(name: string): void {
    this.tasks.delete(name);
    this.heap.delete(name);
    for (const exec of this.claimed.takeTask(name)) this.track(this.cancelPending(exec, 'cancelled: the task was deleted'));
    const rt = this.runtimes.get(name);
    if (rt === undefined) return;
    if (rt.active.size === 0 && rt.buffered === undefined) {
      this.runtimes.delete(name);
      return;
    }
    for (const handle of rt.active.values()) handle.cancel('cancelled: the task was deleted');
    this.track(this.cancelBuffered(name, rt, 'cancelled: the task was deleted'));
  }

  /** RunTask: a MANUAL execution now, whatever the state and overlap policy. */
  async runNow(task: Task): Promise<Execution> {
    const exec = this.newExecution(task.name, this.clock.now(), 'MANUAL');
    const attempt = beginAttempt(exec, this.clock.now());
    await this.recorder.record(exec);
    const snapshot = cloneExecution(exec);
    this.launch(task, exec, attempt);
    return snapshot;
  }

  /** CancelExecution: abort a live execution and wait until its CANCELLED state is stored. */
  async cancelExecution(id: string): Promise<Execution> {
    const ahead = this.claimed.takeId(id);
    if (ahead !== undefined) return this.cancelPending(ahead, 'cancelled by request');
    const handle = this.handles.get(id);
    if (handle !== undefined) {
      handle.cancel('cancelled by request');
      await handle.done;
      return cloneExecution(handle.execution);
    }
    for (const [name, rt] of this.runtimes) {
      if (rt.buffered?.id === id) {
        const exec = await this.cancelBuffered(name, rt, 'cancelled by request');
        if (exec !== undefined) return exec;
      }
    }
    const stored = await this.store.getExecution(id);
    if (stored === undefined) throw new ExecutionNotFoundError(id);
    throw new FailedPreconditionError(`execution "${id}" has already ended in state ${stored.state}`);
  }

  /** The next `count` occurrences that will fire, from now (empty when paused or finished). */
  nextRunTimes(task: Task, count: number): number[] {
    if (task.state !== 'ENABLED') return [];
    const entry = this.tasks.get(task.name);
    const schedule = entry?.schedule ?? compileSchedule(task.schedule);
    const probe: TaskEntry = { plan: task, task, schedule, lastOccurrence: entry?.lastOccurrence, version: 0 };
    const now = this.clock.now();
    // Claimed ahead (stored PENDING) come first: they are the next to run.
    const inFlight = this.claiming.get(task.name);
    const times = [...this.claimed.timesOf(task.name), ...(inFlight === undefined ? [] : [inFlight])]
      .filter((t) => t > now).sort((a, b) => a - b).slice(0, count);
    let after = Math.max(now, entry?.lastOccurrence ?? -Infinity);
    for (let i = times.length; i < count; i++) {
      const next = this.nextOccurrence(probe, after, i);
      if (next === undefined) break;
      times.push(next);
      after = next;
    }
    return times;
  }

  /** Resolves when every fire and execution started so far has settled (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  // --- scheduling -----------------------------------------------------------------------

  private load(plan: TaskPlan, task: Task | undefined, schedule: Schedule, lastOccurrence: number | undefined): void {
    const entry: TaskEntry = { plan, task, schedule, lastOccurrence, version: 0 };
    this.tasks.set(plan.name, entry);
    this.reschedule(entry);
  }

  private reschedule(entry: TaskEntry): void {
    const next = entry.plan.state === 'ENABLED'
      ? this.nextOccurrence(entry, Math.max(entry.plan.scheduleAnchor, entry.lastOccurrence ?? -Infinity))
      : undefined;
    if (next === undefined) this.heap.delete(entry.plan.name);
    else this.heap.set(entry.plan.name, next);
    if (this.running) this.arm();
  }

  /**
   * The entry of `name` with its whole task, read from the store when only its plan is held.
   * Undefined when the task is gone. A task written meanwhile wins over the one read: the
   * read is taken only if the entry is the same and was neither held nor let go meanwhile.
   * The caller checks the task still runs at its time (see notRunning): it may have changed.
   */
  private async wholeTask(name: string): Promise<HeldEntry | undefined> {
    for (;;) {
      const entry = this.tasks.get(name);
      if (entry === undefined || isHeld(entry)) return entry;
      const version = entry.version;
      const stored = await this.store.getTask(name);
      if (this.tasks.get(name) !== entry || entry.version !== version) continue; // changed while reading: look again
      if (stored === undefined) return undefined; // deleted; the engine hears of it next
      // The store's run count and the one held here differ while a count is being written;
      // the one held here counts each run once.
      hold(entry, this.parts.adopt({ ...stored, runCount: entry.plan.runCount }));
      return entry as HeldEntry;
    }
  }

  /** Why an occurrence at `at` must not run now, for a task read meanwhile; undefined when it may. */
  private notRunning(entry: TaskEntry | undefined, at: number): string | undefined {
    return entry === undefined ? 'cancelled: the task was deleted'
      : entry.plan.state === 'PAUSED' ? 'cancelled: the task was paused'
      : !this.running && !this.stopping ? 'cancelled: the service is shutting down'
      : !this.stillOccurs(entry, at) ? 'cancelled: the task changed before this occurrence'
      : undefined;
  }

  /**
   * After an execution: a task loaded from its plan lets its whole task go again unless it
   * is busy or fires again soon (HOLD_WHOLE_TASK_MS). Only with a store that has plans.
   */
  private letGo(name: string, rt: TaskRuntime): void {
    const entry = this.tasks.get(name);
    if (entry === undefined || entry.task === undefined || this.store.allTaskPlans === undefined) return;
    if (rt.active.size > 0 || rt.buffered !== undefined || this.claiming.has(name) || this.claimed.timesOf(name).length > 0) return;
    const next = this.heap.timeOf(name);
    if (next !== undefined && next - this.clock.now() <= HOLD_WHOLE_TASK_MS) return;
    entry.task = undefined;
    entry.plan = taskPlanOf(entry.plan);
    entry.version++;
  }

  /** First occurrence strictly after `after` that the task's bounds allow; `pending` fires are already counted ahead. */
  private nextOccurrence(entry: TaskEntry, after: number, pending = 0): number | undefined {
    const { plan: task, schedule } = entry;
    if (task.maxRuns > 0 && task.runCount + pending >= task.maxRuns) return undefined;
    let from = Math.max(after, task.scheduleAnchor);
    if (task.startTime !== undefined) from = Math.max(from, task.startTime - 1);
    const next = schedule.next(from);
    if (next === undefined) return undefined;
    if (task.endTime !== undefined && next >= task.endTime) return undefined;
    return next;
  }

  /** One timer for both: the next occurrence to claim (ahead of its time) and the next claimed one to start. */
  private arm(): void {
    if (!this.running) return;
    const claimAt = this.heap.peek()?.at;
    const at = Math.min(claimAt === undefined ? Infinity : claimAt - this.claimAheadMs, this.claimed.nextAt() ?? Infinity);
    if (at === Infinity) {
      this.cancelTimer();
      return;
    }
    const now = this.clock.now();
    const fireAt = Math.min(Math.max(now, at), now + this.maxTimerMs);
    if (this.timer !== undefined && this.timerAt === fireAt) return;
    this.cancelTimer();
    this.timerAt = fireAt;
    this.timer = this.clock.setTimer(() => this.tick(), fireAt - now);
  }

  private cancelTimer(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  private tick(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    if (!this.running) return;
    const now = this.clock.now();
    // Starting what is due goes first: claiming ahead can wait a moment, a due action cannot.
    this.startClaimedDue(now, () => {
      try {
        for (let due = this.heap.popDue(now + this.claimAheadMs); due !== undefined; due = this.heap.popDue(now + this.claimAheadMs)) {
          this.handleDueOrReport(due.key, due.at, now);
        }
      } finally {
        // Whatever happened above, the timer runs on: an engine that stopped arming would look healthy and fire nothing.
        this.arm();
      }
    });
  }

  /**
   * handleDue, or a report if it fails (it should not): the other tasks due go on, and so does
   * this one from its next occurrence (it left the heap before the failure).
   */
  private handleDueOrReport(name: string, at: number, now: number): void {
    try {
      this.handleDue(name, at, now);
    } catch (err) {
      this.options.onError?.(err, `occurrence of ${name} at ${new Date(at).toISOString()}`);
      try {
        const entry = this.tasks.get(name);
        const next = entry === undefined || entry.plan.state !== 'ENABLED' ? undefined : this.nextOccurrence(entry, Math.max(at, now));
        if (next !== undefined && !this.heap.has(name)) this.heap.set(name, next);
      } catch (again) {
        this.options.onError?.(again, `next occurrence of ${name} after ${new Date(at).toISOString()}`);
      }
    }
  }

  /**
   * Publish first: the actions of every occurrence due now that nothing can stop (see
   * startNow) start in one pass, before any of their bookkeeping (recording, run counts,
   * promise chains), so the last of 10,000 due at one instant is not kept waiting for the
   * bookkeeping of the 9,999 before it. The others go the ordinary way (startClaimed).
   *
   * The bookkeeping, and `then` after it, wait for one microtask: what the actions queued
   * synchronously in the pass is written first (nats.js queues a microtask that writes its
   * buffer at the first publish into an empty buffer, so before this one; what an action
   * publishes only after an await of its own is written later). Only what the pass itself set
   * going runs in between (the client's writes, the actions' promise plumbing); no I/O
   * callback, timer or call can. Tracked, so a drain waits for it.
   */
  private startClaimedDue(now: number, then?: () => void): void {
    const due: Execution[] = [];
    const started: Array<ExecutionHandle | undefined> = [];
    for (let exec = this.claimed.popDue(now); exec !== undefined; exec = this.claimed.popDue(now)) {
      due.push(exec);
      started.push(this.startNowOrReport(exec, now));
    }
    if (due.length === 0) {
      then?.();
      return;
    }
    this.track(Promise.resolve().then(() => {
      try {
        this.keepBooks(due, started);
      } finally {
        then?.();
      }
    }), 'fire');
  }

  /** After startClaimedDue's pass: the runner takes over each action started, the rest start the ordinary way. */
  private keepBooks(due: Execution[], started: Array<ExecutionHandle | undefined>): void {
    for (let i = 0; i < due.length; i++) {
      const exec = due[i]!;
      const handle = started[i];
      try {
        if (handle === undefined) {
          this.track(this.fireChain.run(exec.taskName, () => this.startClaimed(exec)), `fire ${exec.taskName}`);
          continue;
        }
        this.run(handle);
        const task = handle.task;
        // On the task's fire chain, as startClaimed's count is: a max_runs count settles before the next occurrence.
        this.track(this.fireChain.run(task.name, () => this.countRun(task)), `fire ${task.name}`);
      } catch (err) {
        // It should not happen; if it does, the rest of the burst still gets its bookkeeping.
        this.options.onError?.(err, `bookkeeping of ${exec.taskName} at ${new Date(exec.scheduledTime).toISOString()}`);
      }
    }
  }

  /** startNow, or the ordinary way if it fails (it should not): the burst's other occurrences go on. */
  private startNowOrReport(exec: Execution, now: number): ExecutionHandle | undefined {
    try {
      return this.startNow(exec, now);
    } catch (err) {
      this.options.onError?.(err, `start of ${exec.taskName} at ${new Date(exec.scheduledTime).toISOString()}`);
      return undefined;
    }
  }

  /**
   * Start the action of a claimed occurrence at once when startClaimed would do just that: the
   * whole task is held (no read first), it is not found late, no other fire of the task is under
   * way, and the overlap policy says run. What startClaimed does after its launch follows.
   */
  private startNow(exec: Execution, now: number): ExecutionHandle | undefined {
    const name = exec.taskName;
    const entry = this.tasks.get(name);
    if (entry === undefined || !isHeld(entry) || !this.fireChain.idle(name)) return undefined;
    const at = exec.scheduledTime;
    if (now - at > this.misfireThresholdMs) return undefined;
    const task = entry.task;
    const rt = this.runtime(name);
    if (decideOverlap(task.overlapPolicy, this.overlapping(rt, at).length, rt.buffered !== undefined) !== 'run') return undefined;
    const handle = this.handleFor(task, exec, beginAttempt(exec, this.clock.now()), { recordWhileStarting: true });
    handle.startedAttempt = startAttempt(handle, handle.claimedAttempt!, this.runnerDeps);
    return handle;
  }

  /** Until stop()'s grace ends: start the claimed occurrences at their time, let executions finish. */
  private async drain(): Promise<void> {
    while (this.stopping && (this.claimed.size > 0 || this.inflight.size > 0)) {
      const at = this.claimed.nextAt();
      if (at !== undefined && at <= this.clock.now()) {
        this.startClaimedDue(this.clock.now());
        continue;
      }
      const waits: Promise<unknown>[] = [];
      if (this.inflight.size > 0) waits.push(Promise.allSettled([...this.inflight]));
      if (at !== undefined) waits.push(sleep(this.clock, at - this.clock.now()));
      await Promise.race(waits);
    }
  }

  private handleDue(name: string, at: number, now: number): void {
    const entry = this.tasks.get(name);
    if (entry === undefined || entry.plan.state !== 'ENABLED') return;
    let next: number | undefined;
    if (now - at <= this.misfireThresholdMs) {
      entry.lastOccurrence = at;
      if (at > now && this.claimAheadMs > 0) {
        this.claiming.set(name, at);
        this.track(this.fireChain.run(name, () => this.claimAhead(name, at)), `claim ${name}`);
      } else {
        this.afterPlacement(name, at, () => this.track(this.fireChain.run(name, () => this.fire(name, at, 'SCHEDULE')), `fire ${name}`));
      }
      next = this.nextOccurrence(entry, at);
    } else {
      const plan = this.misfirePlan(entry, at, now);
      entry.lastOccurrence = plan.last;
      this.afterPlacement(name, at, () => this.track(this.fireChain.run(name, () => this.recordMisfire(name, plan)), `misfire ${name}`));
      next = this.nextOccurrence(entry, now, plan.run.length);
    }
    if (next !== undefined) this.heap.set(name, next);
  }

  /** Run `work` now if this replica owns the task, else after the takeover delay (the claim decides). */
  private afterPlacement(name: string, at: number, work: () => void): void {
    const delay = this.options.placement?.(name, at) ?? 0;
    if (delay <= 0) {
      work();
      return;
    }
    const handle = this.clock.setTimer(() => {
      this.delayed.delete(handle);
      if (this.running) work();
    }, delay);
    this.delayed.add(handle);
  }

  /**
   * With replicas: mark LOST what dead nodes left unfinished (a survivor's takeover; the store
   * makes sure only one survivor records it). Returns how many it marked.
   */
  async recoverDeadNodes(): Promise<number> {
    return (await this.recoverUnfinished((node) => node !== this.options.node && !(this.options.isNodeAlive?.(node) ?? false))).lost;
  }

  private misfirePlan(entry: TaskEntry, first: number, now: number) {
    const head = this.occurrencesUpTo(entry, first, now);
    let tail: number[] = [];
    let gapStart: number | undefined;
    const lastHead = head[head.length - 1]!;
    const nextAfterHead = this.nextOccurrence(entry, lastHead);
    if (nextAfterHead !== undefined && nextAfterHead <= now) {
      // Too many to record one by one: keep the head and the catch-up window, summarise the middle.
      const windowStart = Math.max(lastHead, now - entry.plan.catchupWindowMs - 1);
      const firstTail = this.nextOccurrence(entry, windowStart);
      if (firstTail !== undefined && firstTail <= now) tail = this.occurrencesUpTo(entry, firstTail, now);
      if (firstTail === undefined || firstTail > nextAfterHead) gapStart = nextAfterHead;
    }
    const all = [...head, ...tail];
    const plan = planMisfire(entry.plan.misfirePolicy, all, now, entry.plan.catchupWindowMs);
    return { ...plan, gapStart, gapEnd: tail[0] ?? now, last: all[all.length - 1]!, now };
  }

  private occurrencesUpTo(entry: TaskEntry, first: number, now: number): number[] {
    const out = [first];
    for (let t = this.nextOccurrence(entry, first); t !== undefined && t <= now && out.length < MAX_RECORDED_MISSES; t = this.nextOccurrence(entry, t)) {
      out.push(t);
    }
    return out;
  }

  // --- firing ---------------------------------------------------------------------------

  /** Resolves once the occurrence is recorded and started; returns the started execution's handle. */
  private async fire(name: string, at: number, trigger: Trigger): Promise<ExecutionHandle | undefined> {
    let entry = this.tasks.get(name);
    if (entry !== undefined && !isHeld(entry)) {
      entry = await this.wholeTask(name);
      // Read from the store: the task may have been paused or changed meanwhile.
      const reason = entry === undefined ? undefined : this.notRunning(entry, at);
      if (reason !== undefined && trigger !== 'MANUAL') {
        await this.cancelPending(this.newExecution(name, at, trigger), reason, true);
        return undefined;
      }
    }
    if (entry === undefined || !isHeld(entry) || !this.running) return undefined;
    const task = entry.task;
    if (trigger !== 'MANUAL' && task.maxRuns > 0 && task.runCount >= task.maxRuns) {
      this.heap.delete(name);
      return undefined;
    }
    const rt = this.runtime(name);
    const overlapping = this.overlapping(rt, at);
    const decision = decideOverlap(task.overlapPolicy, overlapping.length, rt.buffered !== undefined);
    const exec = this.newExecution(name, at, trigger);
    if (decision === 'skip') {
      exec.state = 'SKIPPED';
      exec.error = skipReason(task.overlapPolicy, overlapping.map((h) => h.execution.id), rt.buffered !== undefined);
      exec.endTime = this.clock.now();
      await this.recordFinal(exec, true);
      return undefined;
    }
    // An execution that does not wait for its overlap slot is claimed already RUNNING: one store
    // write between the due time and the action. PENDING is for one that waits (BUFFER_ONE).
    const attempt = decision === 'buffer' ? undefined : beginAttempt(exec, this.clock.now());
    const claimed = await this.recorder.record(exec, { claim: true });
    if (claimed === undefined) return undefined; // already handled before a restart
    await this.countRun(task);
    if (decision === 'buffer') {
      // A pause, delete or stop during the writes above found nothing buffered to cancel yet.
      const reason = this.notRunning(this.tasks.get(name), at);
      if (reason !== undefined) {
        await this.cancelPending(exec, reason);
        return undefined;
      }
      rt.buffered = exec;
      // The run it waits for may have ended during the writes above: then it starts now.
      this.startBuffered(name, rt);
      return undefined;
    }
    if (decision === 'cancel-previous') {
      for (const handle of overlapping) {
        handle.cancel(`cancelled: superseded by execution ${exec.id} (overlap policy CANCEL_PREVIOUS)`);
      }
    }
    return this.launch(task, exec, attempt);
  }

  /**
   * Claim an occurrence shortly before its time: stored PENDING now, started by the timer at its
   * time without another store write in between (see startClaimed).
   */
  private async claimAhead(name: string, at: number): Promise<void> {
    try {
      // The whole task now, so nothing is read from the store at the occurrence's time.
      let entry = this.tasks.get(name);
      try {
        if (entry !== undefined && !isHeld(entry)) entry = await this.wholeTask(name);
      } catch (err) {
        this.fireAtItsTime(name, at, err, 'read');
        return;
      }
      if (entry === undefined || !this.running) return;
      const task = entry.plan;
      if (task.maxRuns > 0 && task.runCount >= task.maxRuns) {
        this.heap.delete(name);
        return;
      }
      const exec = this.newExecution(name, at, 'SCHEDULE');
      try {
        if ((await this.recorder.record(exec, { claim: true })) === undefined) return; // handled before a restart
      } catch (err) {
        this.fireAtItsTime(name, at, err, 'claim');
        return;
      }
      const reason = this.notRunning(this.tasks.get(name), at);
      if (reason !== undefined) {
        await this.cancelPending(exec, reason);
        return;
      }
      this.claimed.add(exec);
      this.arm();
    } finally {
      if (this.claiming.get(name) === at) this.claiming.delete(name);
    }
  }

  /** Not claimed ahead (the claim or the task's read failed): fire it at its time the ordinary way, unless things change. */
  private fireAtItsTime(name: string, at: number, err: unknown, what: 'claim' | 'read'): void {
    this.options.onError?.(err, `${what === 'claim' ? 'claim' : 'task read for the claim'} of ${name} at ${new Date(at).toISOString()} (fired at its time instead)`);
    const timer = this.clock.setTimer(() => {
      this.delayed.delete(timer);
      const now = this.tasks.get(name);
      if (this.running && now !== undefined && this.stillOccurs(now, at)) {
        this.track(this.fireChain.run(name, () => this.fire(name, at, 'SCHEDULE')), `fire ${name}`);
      }
    }, at - this.clock.now());
    this.delayed.add(timer);
  }

  /** The time of an occurrence claimed ahead has come: the overlap policy decides, then the action starts. */
  private async startClaimed(exec: Execution): Promise<void> {
    const name = exec.taskName;
    let entry = this.tasks.get(name);
    if (entry !== undefined && !isHeld(entry)) {
      try {
        entry = await this.wholeTask(name);
      } catch (err) {
        exec.state = 'FAILED';
        exec.error = `the task could not be read: ${err instanceof Error ? err.message : String(err)}`;
        exec.endTime = this.clock.now();
        await this.recordFinal(exec);
        return;
      }
      // Read from the store: the task may have been paused or changed meanwhile.
      const reason = this.notRunning(entry, exec.scheduledTime);
      if (reason !== undefined) {
        await this.cancelPending(exec, reason);
        return;
      }
    }
    if (entry === undefined || !isHeld(entry)) {
      await this.cancelPending(exec, 'cancelled: the task was deleted');
      return;
    }
    const task = entry.task;
    const at = exec.scheduledTime;
    const now = this.clock.now();
    if (now - at > this.misfireThresholdMs) {
      // Found late (a stall): the misfire policy decides, as for any occurrence found late.
      const plan = planMisfire(task.misfirePolicy, [at], now, task.catchupWindowMs);
      if ((entry.lastOccurrence ?? -Infinity) > at || plan.run.length === 0) {
        exec.state = 'MISSED';
        exec.error = `missed: the service was stalled at that time (found ${Math.round((now - at) / 1000)} s late)`;
        exec.endTime = now;
        await this.recordFinal(exec);
        return;
      }
    }
    const rt = this.runtime(name);
    const overlapping = this.overlapping(rt, at);
    const decision = decideOverlap(task.overlapPolicy, overlapping.length, rt.buffered !== undefined);
    if (decision === 'skip') {
      exec.state = 'SKIPPED';
      exec.error = skipReason(task.overlapPolicy, overlapping.map((h) => h.execution.id), rt.buffered !== undefined);
      exec.endTime = this.clock.now();
      await this.recordFinal(exec);
      return;
    }
    if (decision === 'buffer') {
      rt.buffered = exec; // stored PENDING already
      await this.countRun(task);
      return;
    }
    if (decision === 'cancel-previous') {
      for (const handle of overlapping) {
        handle.cancel(`cancelled: superseded by execution ${exec.id} (overlap policy CANCEL_PREVIOUS)`);
      }
    }
    // The claim is stored, so the action may start before RUNNING is: a crash in between
    // leaves it PENDING, and the next start marks it LOST (it may have run).
    this.launch(task, exec, beginAttempt(exec, this.clock.now()), { recordWhileStarting: true });
    await this.countRun(task);
  }

  /**
   * The run count is bookkeeping: a failure to write it must not strand a claimed execution.
   * Only max_runs needs it settled before the next occurrence; otherwise it is written off the
   * firing path.
   */
  private async countRun(task: Task): Promise<void> {
    const name = task.name;
    const add = this.store.addRunCount?.bind(this.store);
    const counted = (add === undefined
      ? this.updateStatus(name, (t) => ({ ...t, runCount: t.runCount + 1 }))
      : this.taskLock.run(name, async () => {
        // One small write instead of reading and replacing the whole task; the copy held here
        // follows (max_runs reads it). Counted in place: with a store that counts runs, the
        // held task and plan are this engine's own copies (taken by hold and letGo), and a copy
        // of the whole task per run was a twelfth of the event loop's work in a 10k burst.
        // A whole-task read under way takes the count when it ends (wholeTask).
        await add(name);
        const entry = this.tasks.get(name);
        if (entry !== undefined) entry.plan.runCount++; // held: plan and task are one object
      })
    ).catch((err) => this.options.onError?.(err, `run count of ${name}`));
    if (task.maxRuns > 0) await counted;
    else this.track(counted, `run count of ${task.name}`);
  }

  /**
   * The executions an occurrence at `at` overlaps: those still running that had started by its
   * time. One that started later (its claim was slow, or it was taken over late) must not make
   * it SKIPPED, nor one whose final state is only being stored.
   */
  private overlapping(rt: TaskRuntime, at: number): ExecutionHandle[] {
    return [...rt.active.values()].filter((h) => !h.ended && h.execution.startTime !== undefined && h.execution.startTime <= at);
  }

  /** Whether `at` is still an occurrence of the task as it is now (claimed ahead before a change). */
  private stillOccurs(entry: TaskEntry, at: number): boolean {
    const { plan: task, schedule } = entry;
    if (task.state !== 'ENABLED') return false;
    if (task.startTime !== undefined && at < task.startTime) return false;
    if (task.endTime !== undefined && at >= task.endTime) return false;
    return schedule.next(at - 1) === at;
  }

  private async recordMisfire(name: string, plan: ReturnType<Engine['misfirePlan']>): Promise<void> {
    const entry = this.tasks.get(name);
    if (entry === undefined) return;
    const late = (t: number) => `missed: the service was not running or was stalled at that time (found ${Math.round((plan.now - t) / 1000)} s late)`;
    for (const at of plan.missed) {
      const exec = this.newExecution(name, at, 'SCHEDULE');
      exec.state = 'MISSED';
      exec.error = late(at);
      exec.endTime = this.clock.now();
      await this.recordFinal(exec, true);
    }
    if (plan.gapStart !== undefined) {
      const exec = this.newExecution(name, plan.gapStart, 'SCHEDULE');
      exec.state = 'MISSED';
      exec.error = `missed: this and every occurrence until ${new Date(plan.gapEnd).toISOString()} passed while the service was not running (too many to record one by one)`;
      exec.endTime = this.clock.now();
      await this.recordFinal(exec, true);
    }
    // Catch-up runs go one after another, so they neither overlap each other nor get SKIPPED.
    for (const at of plan.run) await (await this.fire(name, at, 'CATCHUP'))?.done;
  }

  /**
   * `claimedAttempt`: the first attempt, already begun: recorded as RUNNING with the claim, or
   * with `recordWhileStarting` recorded by the runner as its action starts.
   */
  private launch(task: Task, exec: Execution, claimedAttempt?: Attempt, options?: { recordWhileStarting?: boolean }): ExecutionHandle {
    return this.run(this.handleFor(task, exec, claimedAttempt, options));
  }

  /** A new live execution of the task, counted as running (it overlaps later occurrences) from now. */
  private handleFor(task: Task, exec: Execution, claimedAttempt?: Attempt, options?: { recordWhileStarting?: boolean }): ExecutionHandle {
    const handle = new ExecutionHandle(exec, task);
    handle.claimedAttempt = claimedAttempt;
    handle.recordWhileStarting = options?.recordWhileStarting === true;
    this.runtime(task.name).active.set(exec.id, handle);
    this.handles.set(exec.id, handle);
    return handle;
  }

  /** Run the execution through its attempts (runExecution), then its bookkeeping. */
  private run(handle: ExecutionHandle): ExecutionHandle {
    const task = handle.task;
    const exec = handle.execution;
    const rt = this.runtime(task.name);
    handle.done = this.track(
      runExecution(handle, this.runnerDeps)
        // The execution has ended once its final state is stored: it stops overlapping at once,
        // not only after the bookkeeping below.
        .finally(() => {
          rt.active.delete(exec.id);
          this.handles.delete(exec.id);
          this.startBuffered(task.name, rt);
          if (rt.active.size === 0 && rt.buffered === undefined && !this.tasks.has(task.name) && this.runtimes.get(task.name) === rt) {
            this.runtimes.delete(task.name);
          }
        })
        .then((final) => this.afterExecution(task.name, final, rt)),
    );
    return handle;
  }

  private startBuffered(name: string, rt: TaskRuntime): void {
    const entry = this.tasks.get(name);
    if (rt.buffered === undefined || rt.active.size > 0 || entry === undefined || !this.running) return;
    if (!isHeld(entry)) {
      // Not expected (buffering read the whole task, and it is not let go while one is
      // buffered): read it, then look again with the execution still buffered.
      this.track(this.wholeTask(name).then((held) => (held === undefined ? undefined : this.startBuffered(name, rt))), `task read of ${name}`);
      return;
    }
    const exec = rt.buffered;
    rt.buffered = undefined;
    this.launch(entry.task, exec);
  }

  /**
   * Counts consecutive failures and pauses the task at pause_after_failures; then lets go of a
   * whole task read for this run (letGo).
   */
  private async afterExecution(name: string, exec: Execution, rt: TaskRuntime): Promise<void> {
    try {
      if (exec.state === 'SUCCEEDED') {
        // With one replica the task held here is the stored one (every write goes through this
        // process), so a task with no failures to reset needs no store read; replicas must ask.
        if (this.options.placement === undefined && this.tasks.get(name)?.task?.consecutiveFailures === 0) return;
        await this.updateStatus(name, (t) => (t.consecutiveFailures === 0 ? undefined : { ...t, consecutiveFailures: 0 }));
        return;
      }
      if (!isFailureState(exec.state)) return;
      let paused = false;
      await this.updateStatus(name, (t) => {
        const failures = t.consecutiveFailures + 1;
        if (t.pauseAfterFailures > 0 && failures >= t.pauseAfterFailures && t.state === 'ENABLED') {
          paused = true;
          return {
            ...t,
            consecutiveFailures: failures,
            state: 'PAUSED',
            pausedReason: `paused after ${failures} consecutive failed executions (last: ${exec.error})`,
            etag: uuidv7(this.clock.now()),
            updateTime: this.clock.now(),
          };
        }
        return { ...t, consecutiveFailures: failures };
      });
      if (paused) {
        const entry = this.tasks.get(name);
        if (entry?.task !== undefined) this.upsertTask(entry.task);
      }
    } finally {
      this.letGo(name, rt);
    }
  }

  /** Write status fields of a stored task under its lock; the etag stays unless `mutate` changes it. */
  private async updateStatus(name: string, mutate: (task: Task) => Task | undefined): Promise<void> {
    await this.taskLock.run(name, async () => {
      const current = await this.store.getTask(name);
      if (current === undefined) return;
      const next = mutate(current);
      if (next === undefined) return;
      await this.store.replaceTask(next, current.etag);
      const entry = this.tasks.get(name);
      if (entry !== undefined) hold(entry, this.parts.share(next));
    });
  }

  private quiesce(name: string, reason: string): void {
    const rt = this.runtimes.get(name);
    if (rt === undefined) return;
    for (const handle of rt.active.values()) {
      handle.stopRetries = true;
      if (handle.waitingForRetry) handle.cancel(reason);
    }
    this.track(this.cancelBuffered(name, rt, reason));
  }

  private async cancelBuffered(name: string, rt: TaskRuntime, reason: string): Promise<Execution | undefined> {
    const exec = rt.buffered;
    if (exec === undefined) return undefined;
    rt.buffered = undefined;
    const cancelled = await this.cancelPending(exec, reason);
    if (rt.active.size === 0 && !this.tasks.has(name)) this.runtimes.delete(name);
    return cancelled;
  }

  /** A PENDING execution (buffered, or claimed ahead) that will not run; `claim` for one not stored yet (recorded as its claim). */
  private async cancelPending(exec: Execution, reason: string, claim = false): Promise<Execution> {
    exec.state = 'CANCELLED';
    exec.error = reason;
    exec.endTime = this.clock.now();
    await this.recordFinal(exec, claim);
    return cloneExecution(exec);
  }

  /**
   * Executions of dead nodes that never finished become LOST. At start this node's own count as
   * dead. Those matching `keep` are returned instead (this node's claims ahead, not yet due).
   */
  private async recoverUnfinished(
    isDead: (node: string) => boolean = (node) => node === this.options.node || !(this.options.isNodeAlive?.(node) ?? false),
    keep: (exec: Execution) => boolean = () => false,
  ): Promise<{ lost: number; kept: Execution[] }> {
    const all = (await this.store.executionsInStates(['PENDING', 'RUNNING', 'RETRYING']))
      .filter((e) => isDead(e.node) && !this.handles.has(e.id));
    const kept = all.filter(keep);
    const unfinished = all.filter((e) => !keep(e));
    const now = this.clock.now();
    for (const exec of unfinished) {
      const wasRunning = exec.state === 'RUNNING';
      const last = exec.attempts[exec.attempts.length - 1];
      if (wasRunning && last !== undefined && last.endTime === undefined) {
        last.state = 'LOST';
        last.endTime = now;
        last.error = 'the process died during this attempt';
      }
      exec.error = `lost: the process handling it (node ${exec.node || 'unknown'}) stopped while it was ${exec.state.toLowerCase()}`;
      exec.state = 'LOST';
      exec.endTime = now;
      await this.recordFinal(exec);
    }
    return { lost: unfinished.length, kept };
  }

  /** A final state, retried through a store outage while the engine runs (see ExecutionRecorder.recordFinal). */
  private recordFinal(exec: Execution, claim = false): Promise<ExecutionEvent | undefined> {
    return this.recorder.recordFinal(exec, {
      claim,
      keepTrying: () => this.running || this.stopping,
      onRetry: (err, delayMs) => this.options.onError?.(err, `${exec.state} of ${exec.id} (retried in ${delayMs} ms)`),
    });
  }

  private newExecution(taskName: string, scheduledTime: number, trigger: Trigger): Execution {
    return {
      id: uuidv7(this.clock.now()),
      taskName,
      scheduledTime,
      startTime: undefined,
      endTime: undefined,
      state: 'PENDING',
      attempt: 0,
      trigger,
      error: '',
      node: this.options.node,
      attempts: [],
      output: '',
    };
  }

  private runtime(name: string): TaskRuntime {
    let rt = this.runtimes.get(name);
    if (rt === undefined) {
      rt = { active: new Map(), buffered: undefined };
      this.runtimes.set(name, rt);
    }
    return rt;
  }

  /** Keep a background promise for idle()/stop(); report its failure instead of leaving it unhandled. */
  private track(promise: Promise<unknown>, context = 'engine'): Promise<void> {
    const tracked: Promise<void> = promise.then(
      () => {
        this.inflight.delete(tracked);
      },
      (err) => {
        this.inflight.delete(tracked);
        this.options.onError?.(err, context);
      },
    );
    this.inflight.add(tracked);
    return tracked;
  }
}
