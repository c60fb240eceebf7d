import type { Execution, ExecutionEvent, ExecutionState } from '../domain/execution.js';
import {
  type FieldViolation,
  EtagMismatchError,
  ExecutionNotFoundError,
  InvalidArgumentError,
  ResourceExhaustedError,
  TaskAlreadyExistsError,
  TaskNotFoundError,
} from '../domain/errors.js';
import { clampPageSize, decodePageToken, encodePageToken } from '../domain/page-token.js';
import { compileSchedule } from '../domain/schedule.js';
import type { ActionSpec, ScheduleSpec, Task, TaskSpec } from '../domain/task.js';
import { parseTaskFilter } from '../domain/task-filter-parse.js';
import { applyUpdateMask, scheduleChanged } from '../domain/task-update.js';
import { normalizeTaskSpec, validateTaskSpec } from '../domain/task-validation.js';
import type { Store } from '../store/store.js';
import type { Clock } from './clock.js';
import type { Engine } from './engine.js';
import { uuidv7 } from './ids.js';
import type { RequestContext, SchedulerApi, TaskView, WatchQuery } from './scheduler-api.js';

export interface ControlPlaneOptions {
  store: Store;
  engine: Engine;
  clock: Clock;
  watch: (query: WatchQuery, signal: AbortSignal) => AsyncIterable<ExecutionEvent>;
  /** Refuse CreateTask beyond this many tasks. */
  maxTasks?: number;
  /**
   * The deployment's own rule on actions (the HTTP target allowlist), checked on CreateTask and
   * UpdateTask with the built-in validation; fields relative to the task ("action.http.url").
   */
  validateAction?: (action: ActionSpec) => FieldViolation[];
}

const NEXT_RUN_TIMES = 5;
const DEFAULT_PREVIEW_COUNT = 10;
const MAX_PREVIEW_COUNT = 1000;

/**
 * The use cases behind the API: validate, store, tell the engine. Every task mutation runs
 * under the engine's per-task lock, so it never interleaves with the engine's status writes.
 */
export class ControlPlane implements SchedulerApi {
  private readonly store: Store;
  private readonly engine: Engine;
  private readonly clock: Clock;
  private readonly taskCount: TaskCount;

  constructor(private readonly options: ControlPlaneOptions) {
    this.store = options.store;
    this.engine = options.engine;
    this.clock = options.clock;
    this.taskCount = new TaskCount(options.store, options.clock);
  }

  async createTask(input: TaskSpec, context: RequestContext & { createRequestId: string }): Promise<TaskView> {
    const spec = normalizeTaskSpec(input);
    validateTaskSpec(spec, 'task', undefined, this.options.validateAction);
    return this.engine.taskLock.run(spec.name, async () => {
      const max = this.options.maxTasks;
      if (max !== undefined && (await this.taskCount.reached(max))) {
        // The name is looked at first, as always: a retried create is answered even at the limit.
        const existing = await this.store.getTask(spec.name);
        if (existing !== undefined) return this.repeatedCreate(existing, context.createRequestId);
        throw new ResourceExhaustedError(`the service holds its maximum of ${max} tasks`);
      }
      const now = this.clock.now();
      const task: Task = {
        ...spec,
        action: spec.action!,
        pausedReason: spec.state === 'PAUSED' ? 'created paused' : '',
        createTime: now,
        updateTime: now,
        etag: uuidv7(now),
        runCount: 0,
        consecutiveFailures: 0,
        createdBy: context.principal,
        updatedBy: context.principal,
        scheduleAnchor: now,
        createRequestId: context.createRequestId,
      };
      // Insert first and look only when the name is taken: the store refuses a taken name
      // atomically, so the usual create saves a read.
      try {
        await this.store.createTask(task);
      } catch (err) {
        if (!(err instanceof TaskAlreadyExistsError)) throw err;
        const existing = await this.store.getTask(spec.name);
        if (existing === undefined) throw err;
        return this.repeatedCreate(existing, context.createRequestId);
      }
      this.taskCount.added();
      this.engine.upsertTask(task);
      // History is kept by name but a view shows only executions since createTime: none yet.
      return this.viewOf(task, undefined);
    });
  }

  /** The name is taken: the same CreateTask again (same request_id) gets the task, any other is refused. */
  private repeatedCreate(existing: Task, createRequestId: string): Promise<TaskView> {
    if (createRequestId !== '' && existing.createRequestId === createRequestId) return this.view(existing);
    throw new TaskAlreadyExistsError(existing.name);
  }

  async getTask(name: string): Promise<TaskView> {
    return this.view(await this.mustGet(name));
  }

  async listTasks(query: { pageSize: number; pageToken: string; filter: string }) {
    const limit = clampPageSize(query.pageSize);
    const token = query.pageToken === '' ? {} : decodePageToken(query.pageToken);
    const afterName = typeof token['after'] === 'string' ? token['after'] : '';
    const filter = parseTaskFilter(query.filter);
    const rows = await this.store.listTasks({ afterName, limit: limit + 1, filter });
    const page = rows.slice(0, limit);
    const last = await this.lastExecutionsOf(page);
    const tasks = page.map((task, i) => this.viewOf(task, last[i]));
    const nextPageToken = rows.length > limit ? encodePageToken({ after: page[page.length - 1]!.name }) : '';
    return { tasks, nextPageToken };
  }

  async updateTask(update: { spec: TaskSpec; paths: string[]; etag: string }, context: RequestContext): Promise<TaskView> {
    const name = update.spec.name;
    if (name === '') throw new InvalidArgumentError([{ field: 'task.name', description: 'required: the name of the task to update' }]);
    return this.engine.taskLock.run(name, async () => {
      const current = await this.mustGet(name);
      if (update.etag !== '' && update.etag !== current.etag) throw new EtagMismatchError(name);
      const merged = normalizeTaskSpec(applyUpdateMask(current, update.spec, update.paths));
      validateTaskSpec(merged, 'task', undefined, this.options.validateAction);
      const now = this.clock.now();
      const task: Task = {
        ...current,
        ...merged,
        action: merged.action!,
        state: current.state,
        updateTime: now,
        etag: uuidv7(now),
        updatedBy: context.principal,
        scheduleAnchor: scheduleChanged(current, merged) ? now : current.scheduleAnchor,
      };
      await this.store.replaceTask(task, current.etag);
      this.engine.upsertTask(task);
      return this.view(task);
    });
  }

  async deleteTask(name: string, etag: string, _context: RequestContext): Promise<void> {
    requireName(name);
    await this.engine.taskLock.run(name, async () => {
      await this.store.deleteTask(name, etag === '' ? undefined : etag);
      this.taskCount.removed();
      this.engine.removeTask(name);
    });
  }

  pauseTask(name: string, reason: string, context: RequestContext): Promise<TaskView> {
    return this.setState(name, 'PAUSED', reason === '' ? 'paused by request' : reason, context);
  }

  resumeTask(name: string, context: RequestContext): Promise<TaskView> {
    return this.setState(name, 'ENABLED', '', context);
  }

  async runTask(name: string, _context: RequestContext): Promise<Execution> {
    const task = await this.mustGet(name);
    return this.engine.runNow(task);
  }

  async listExecutions(query: { taskName: string; states: ExecutionState[]; pageSize: number; pageToken: string }) {
    const limit = clampPageSize(query.pageSize);
    const token = query.pageToken === '' ? {} : decodePageToken(query.pageToken);
    const beforeKey = typeof token['before'] === 'string' ? token['before'] : '';
    const { executions, nextKey } = await this.store.listExecutions({
      taskName: query.taskName,
      states: query.states,
      limit,
      beforeKey,
    });
    return { executions, nextPageToken: nextKey === '' ? '' : encodePageToken({ before: nextKey }) };
  }

  async getExecution(id: string): Promise<Execution> {
    requireId(id);
    const exec = await this.store.getExecution(id);
    if (exec === undefined) throw new ExecutionNotFoundError(id);
    return exec;
  }

  async cancelExecution(id: string, _context: RequestContext): Promise<Execution> {
    requireId(id);
    return this.engine.cancelExecution(id);
  }

  async previewSchedule(schedule: ScheduleSpec, startTime: number | undefined, count: number): Promise<number[]> {
    if (count < 0) throw new InvalidArgumentError([{ field: 'count', description: 'must not be negative' }]);
    const n = Math.min(count === 0 ? DEFAULT_PREVIEW_COUNT : count, MAX_PREVIEW_COUNT);
    return compileSchedule(schedule, 'schedule').nextTimes(startTime ?? this.clock.now(), n);
  }

  watchExecutions(query: WatchQuery, signal: AbortSignal): AsyncIterable<ExecutionEvent> {
    if (query.afterSequence !== undefined && (query.afterSequence < 0 || !Number.isSafeInteger(query.afterSequence))) {
      throw new InvalidArgumentError([{ field: 'after_sequence', description: 'must be a non-negative integer' }]);
    }
    return this.options.watch(query, signal);
  }

  private async setState(name: string, state: Task['state'], reason: string, context: RequestContext): Promise<TaskView> {
    requireName(name);
    return this.engine.taskLock.run(name, async () => {
      const current = await this.mustGet(name);
      if (current.state === state) return this.view(current);
      const now = this.clock.now();
      const task: Task = {
        ...current,
        state,
        pausedReason: reason,
        // Resuming starts the schedule from now: paused time is not "missed".
        scheduleAnchor: state === 'ENABLED' ? now : current.scheduleAnchor,
        consecutiveFailures: state === 'ENABLED' ? 0 : current.consecutiveFailures,
        updateTime: now,
        etag: uuidv7(now),
        updatedBy: context.principal,
      };
      await this.store.replaceTask(task, current.etag);
      this.engine.upsertTask(task);
      return this.view(task);
    });
  }

  private async mustGet(name: string): Promise<Task> {
    requireName(name);
    const task = await this.store.getTask(name);
    if (task === undefined) throw new TaskNotFoundError(name);
    return task;
  }

  /** History is kept by name: a task deleted and created again must not show its predecessor's run. */
  private async lastExecutionOf(task: Task): Promise<Execution | undefined> {
    return sinceCreated(task, await this.store.lastExecution(task.name));
  }

  /** lastExecutionOf for a page of tasks: one store call when the store can answer for many names. */
  private async lastExecutionsOf(tasks: Task[]): Promise<(Execution | undefined)[]> {
    if (tasks.length === 0) return [];
    const store = this.store as Store & OptionalStoreMethods;
    if (typeof store.lastExecutions !== 'function') return Promise.all(tasks.map((t) => this.lastExecutionOf(t)));
    const byName = await store.lastExecutions(tasks.map((t) => t.name));
    return tasks.map((t) => sinceCreated(t, byName.get(t.name)));
  }

  private async view(task: Task): Promise<TaskView> {
    const nextRunTimes = this.engine.nextRunTimes(task, NEXT_RUN_TIMES);
    return { task, nextRunTimes, lastExecution: await this.lastExecutionOf(task) };
  }

  private viewOf(task: Task, lastExecution: Execution | undefined): TaskView {
    return { task, nextRunTimes: this.engine.nextRunTimes(task, NEXT_RUN_TIMES), lastExecution };
  }
}

/**
 * Store methods the control plane uses when a store offers them, with a fallback when it does
 * not. `lastExecutions`: for each name that has history, its most recent execution of any
 * trigger (what `lastExecution(name)` answers), in one query; names without history are absent.
 */
interface OptionalStoreMethods {
  lastExecutions?(names: string[]): Promise<Map<string, Execution>>;
}

function sinceCreated(task: Task, last: Execution | undefined): Execution | undefined {
  return last !== undefined && last.scheduledTime >= task.createTime ? last : undefined;
}

/**
 * The task count behind `maxTasks`. While the store counts cheaply (the JetStream store's
 * in-memory cache, or any store that only starts an I/O) it is asked on every create, as
 * always. When the call itself takes more than `CHEAP_COUNT_MS` of this thread, twice in a
 * row (SQLite's COUNT(*) walks an index inside the call: 10.8 ms at a million tasks), the
 * store's count is read at most once per `maxAgeMs` and the creates and deletes made through
 * this control plane are added to it meanwhile; creates finished while a count was being read
 * are added on top, so the figure never falls below what this process wrote. Only a store
 * whose count is slow takes this path: SQLite, whose one writer is this process. A refusal is
 * always decided on a count read from the store just then.
 */
class TaskCount {
  private count: number | undefined;
  private readAt = Number.NEGATIVE_INFINITY;
  private cheap = true;
  /** Consecutive reads that cost more than CHEAP_COUNT_MS: one can be a cold start or a GC pause. */
  private slowReads = 0;
  private reading: Promise<number> | undefined;
  private creates = 0;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly maxAgeMs = 1_000,
  ) {}

  /** Whether `max` tasks or more exist now. */
  async reached(max: number): Promise<boolean> {
    const read = this.cheap || this.count === undefined || this.clock.now() - this.readAt >= this.maxAgeMs;
    let count = read ? await this.read() : this.count!;
    if (count >= max && !read) count = await this.read();
    return count >= max;
  }

  added(): void {
    this.creates++;
    if (this.count !== undefined) this.count++;
  }

  removed(): void {
    if (this.count !== undefined) this.count--;
  }

  private read(): Promise<number> {
    this.reading ??= (async () => {
      const createsBefore = this.creates;
      try {
        // Timed up to the promise, not its settling: the work done on this thread is the cost.
        const started = performance.now();
        const pending = this.store.countTasks();
        this.slowReads = performance.now() - started < CHEAP_COUNT_MS ? 0 : this.slowReads + 1;
        this.cheap = this.slowReads < 2;
        const stored = await pending;
        // A create that finished meanwhile may or may not be in `stored`: count it (too high is safe).
        this.count = stored + (this.creates - createsBefore);
        this.readAt = this.clock.now();
        return this.count;
      } finally {
        this.reading = undefined;
      }
    })();
    return this.reading;
  }
}

/** A count whose call takes less than this is asked for on every create. */
const CHEAP_COUNT_MS = 0.05;

function requireName(name: string): void {
  if (name === '') throw new InvalidArgumentError([{ field: 'name', description: 'required' }]);
}

function requireId(id: string): void {
  if (id === '') throw new InvalidArgumentError([{ field: 'id', description: 'required' }]);
}
