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
