/**
 * The task model of the domain core: plain data, epoch-millisecond times, no I/O.
 * Shapes mirror proto/cronplane/v1/task.proto so that field-mask paths map 1:1.
 */

/** Task names double as NATS subject tokens and URL segments, so they stay this narrow. */
export const TASK_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export type TaskState = 'ENABLED' | 'PAUSED';
export type OverlapPolicy = 'SKIP' | 'ALLOW' | 'BUFFER_ONE' | 'CANCEL_PREVIOUS';
export type MisfirePolicy = 'RUN_ONCE' | 'SKIP' | 'RUN_ALL';

/** When a task fires. An empty time zone means UTC. */
export interface ScheduleSpec {
  cron: string;
  timeZone: string;
}

export interface NatsPublishActionSpec {
  kind: 'natsPublish';
  subject: string;
  payload: Uint8Array;
  headers: Record<string, string>;
  jetstream: boolean;
}

export interface NatsRequestActionSpec {
  kind: 'natsRequest';
  subject: string;
  payload: Uint8Array;
  headers: Record<string, string>;
}

export interface HttpActionSpec {
  kind: 'http';
  url: string;
  method: string;
  headers: Record<string, string>;
  body: Uint8Array;
  successCodes: number[];
}

/** One of the action kinds; `undefined` in a spec means the client sent none. */
export type ActionSpec = NatsPublishActionSpec | NatsRequestActionSpec | HttpActionSpec;

/** Backoff between attempts of one execution; all durations in ms. */
export interface RetryPolicy {
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  multiplier: number;
  jitter: number;
}

/** What a client sets: the mutable part of a task. Defaults are applied by `withDefaults`. */
export interface TaskSpec {
  name: string;
  description: string;
  schedule: ScheduleSpec;
  action: ActionSpec | undefined;
  state: TaskState;
  labels: Record<string, string>;
  attemptDeadlineMs: number;
  retryPolicy: RetryPolicy;
  overlapPolicy: OverlapPolicy;
  misfirePolicy: MisfirePolicy;
  catchupWindowMs: number;
  /** Epoch ms; no occurrence before it. */
  startTime: number | undefined;
  /** Epoch ms; no occurrence at or after it. */
  endTime: number | undefined;
  /** 0 = unlimited. */
  maxRuns: number;
  /** 0 = never. */
  pauseAfterFailures: number;
}

/** A stored task: the spec plus what the service keeps about it. */
export interface Task extends TaskSpec {
  action: ActionSpec;
  pausedReason: string;
  createTime: number;
  updateTime: number;
  etag: string;
  runCount: number;
  consecutiveFailures: number;
  createdBy: string;
  updatedBy: string;
  /**
   * Occurrences at or before this instant are never fired: set on create, resume and
   * schedule change, so a task does not "catch up" on time it was not meant to run.
   */
  scheduleAnchor: number;
  /** request_id of the CreateTask that made it, so a retried create is recognised. */
  createRequestId: string;
}

export const DEFAULT_ATTEMPT_DEADLINE_MS = 60_000;
export const MAX_ATTEMPT_DEADLINE_MS = 30 * 60_000;
export const DEFAULT_CATCHUP_WINDOW_MS = 60_000;
export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 1,
  initialBackoffMs: 1_000,
  maxBackoffMs: 60_000,
  multiplier: 2,
  jitter: 0,
});

/** A spec with every field at its default, for building specs field by field. */
export function emptyTaskSpec(name = ''): TaskSpec {
  return {
    name,
    description: '',
    schedule: { cron: '', timeZone: '' },
    action: undefined,
    state: 'ENABLED',
    labels: {},
    attemptDeadlineMs: DEFAULT_ATTEMPT_DEADLINE_MS,
    retryPolicy: { ...DEFAULT_RETRY_POLICY },
    overlapPolicy: 'SKIP',
    misfirePolicy: 'RUN_ONCE',
    catchupWindowMs: DEFAULT_CATCHUP_WINDOW_MS,
    startTime: undefined,
    endTime: undefined,
    maxRuns: 0,
    pauseAfterFailures: 0,
  };
}

/** The time zone a schedule really uses. */
export function effectiveTimeZone(schedule: ScheduleSpec): string {
  return schedule.timeZone === '' ? 'UTC' : schedule.timeZone;
}

/**
 * What the scheduler needs of a task to know when it fires, and nothing it needs only to run
 * it: a Task is one. A store can hand these out at start (Store.allTaskPlans) for a fraction
 * of the cost of decoding whole tasks; the engine loads the whole task when it fires.
 */
export type TaskPlan = Pick<Task,
  'name' | 'schedule' | 'state' | 'scheduleAnchor' | 'startTime' | 'endTime' | 'maxRuns' | 'runCount' | 'misfirePolicy' | 'catchupWindowMs'>;

/** A task's plan as an object of its own, so the rest of the task can be let go. */
export function taskPlanOf(task: TaskPlan): TaskPlan {
  return {
    name: task.name,
    schedule: task.schedule,
    state: task.state,
    scheduleAnchor: task.scheduleAnchor,
    startTime: task.startTime,
    endTime: task.endTime,
    maxRuns: task.maxRuns,
    runCount: task.runCount,
    misfirePolicy: task.misfirePolicy,
    catchupWindowMs: task.catchupWindowMs,
  };
}

/** Shared by every task without labels or headers; frozen, since many tasks hold it. */
export const NO_ENTRIES: Readonly<Record<string, string>> = Object.freeze({});

/** Limits of one SharedTaskParts pool: beyond them, parts are kept as they come (never evicted). */
const SHARED_PART_LIMIT = 10_000;
/** Payloads and bodies up to this size are shared when equal; larger ones are kept as they come. */
const SHARED_BYTES_LIMIT = 1024;

/**
 * Holding many tasks (the engine holds every one): the parts that tasks commonly have in
 * common, once. A million tasks loaded from a store are a million copies of a few schedules,
 * label sets, retry policies, subjects and payloads; `share` returns the task with those parts
 * replaced by one frozen instance per distinct value (payloads by one Uint8Array, which cannot
 * be frozen: nothing in cronplane writes into a task's bytes). Everything that changes a task
 * builds a new object, so shared parts are never written through. Each kind of part is
 * bounded (SHARED_PART_LIMIT distinct values); a pool belongs to its owner (no global).
 */
export class SharedTaskParts {
  private readonly schedules = new Map<string, Readonly<ScheduleSpec>>();
  private readonly maps = new Map<string, Readonly<Record<string, string>>>();
  private readonly retryPolicies = new Map<string, Readonly<RetryPolicy>>();
  private readonly strings = new Map<string, string>();
  private readonly bytes = new Map<string, Uint8Array>();

  /** The same task (equal field by field) with its common parts shared; `task` is left as it was. */
  share(task: Task): Task {
    return { ...task, schedule: this.schedule(task.schedule), action: this.action(task.action), labels: this.map(task.labels), retryPolicy: this.retryPolicy(task.retryPolicy) };
  }

  /**
   * `share` without the copies, for a task object only its caller holds (one just decoded
   * from a store): its parts are replaced in place, and the task is returned.
   */
  adopt(task: Task): Task {
    task.schedule = this.schedule(task.schedule);
    task.labels = this.map(task.labels);
    task.retryPolicy = this.retryPolicy(task.retryPolicy);
    const action = task.action;
    action.headers = this.map(action.headers);
    switch (action.kind) {
      case 'natsPublish':
      case 'natsRequest':
        action.subject = this.string(action.subject);
        action.payload = this.byteString(action.payload);
        break;
      case 'http':
        action.url = this.string(action.url);
        action.method = this.string(action.method);
        action.body = this.byteString(action.body);
        break;
    }
    return task;
  }

  /** `adopt` for a plan only its caller holds: its schedule is replaced in place. */
  adoptPlan(plan: TaskPlan): TaskPlan {
    plan.schedule = this.schedule(plan.schedule);
    return plan;
  }

  private schedule(schedule: ScheduleSpec): Readonly<ScheduleSpec> {
    const key = `${schedule.timeZone}\u0000${schedule.cron}`;
    return this.intern(this.schedules, key, () => Object.freeze({ cron: schedule.cron, timeZone: schedule.timeZone })) ?? schedule;
  }

  private map(entries: Record<string, string>): Readonly<Record<string, string>> {
    const keys = Object.keys(entries);
    if (keys.length === 0) return NO_ENTRIES;
    // Key order is part of the value (it is the order on the wire): the JSON text keeps it.
    return this.intern(this.maps, JSON.stringify(entries), () => Object.freeze({ ...entries })) ?? entries;
  }

  private retryPolicy(policy: RetryPolicy): Readonly<RetryPolicy> {
    const key = `${policy.maxAttempts} ${policy.initialBackoffMs} ${policy.maxBackoffMs} ${policy.multiplier} ${policy.jitter}`;
    return this.intern(this.retryPolicies, key, () => Object.freeze({ ...policy })) ?? policy;
  }

  private action(action: ActionSpec): ActionSpec {
    switch (action.kind) {
      case 'natsPublish':
        return { ...action, subject: this.string(action.subject), payload: this.byteString(action.payload), headers: this.map(action.headers) };
      case 'natsRequest':
        return { ...action, subject: this.string(action.subject), payload: this.byteString(action.payload), headers: this.map(action.headers) };
      case 'http':
        return { ...action, url: this.string(action.url), method: this.string(action.method), body: this.byteString(action.body), headers: this.map(action.headers) };
    }
  }

  private string(value: string): string {
    return this.intern(this.strings, value, () => value) ?? value;
  }

  private byteString(value: Uint8Array): Uint8Array {
    if (value.byteLength > SHARED_BYTES_LIMIT) return value;
    // One char per byte: an exact key, and cheaper than a spread (apply takes the array as it is).
    const key = String.fromCharCode.apply(null, value as unknown as number[]);
    return this.intern(this.bytes, key, () => value) ?? value;
  }

  private intern<T>(pool: Map<string, T>, key: string, make: () => T): T | undefined {
    const known = pool.get(key);
    if (known !== undefined) return known;
    if (pool.size >= SHARED_PART_LIMIT) return undefined;
    const made = make();
    pool.set(key, made);
    return made;
  }
}
