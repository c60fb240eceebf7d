import { InvalidArgumentError, type FieldViolation } from './errors.js';
import { normalizeCron } from './schedule.js';
import { effectiveTimeZone, type TaskSpec } from './task.js';

/**
 * UpdateTask's field mask: which fields of the incoming task replace the stored ones. Paths are
 * proto field names of Task (snake_case), as google.protobuf.FieldMask carries them.
 */

type Setter = (target: TaskSpec, incoming: TaskSpec) => void;

const SETTERS: Readonly<Record<string, Setter>> = {
  description: (t, i) => { t.description = i.description; },
  schedule: (t, i) => { t.schedule = { ...i.schedule }; },
  'schedule.cron': (t, i) => { t.schedule = { ...t.schedule, cron: i.schedule.cron }; },
  'schedule.time_zone': (t, i) => { t.schedule = { ...t.schedule, timeZone: i.schedule.timeZone }; },
  action: (t, i) => { t.action = i.action; },
  labels: (t, i) => { t.labels = { ...i.labels }; },
  attempt_deadline: (t, i) => { t.attemptDeadlineMs = i.attemptDeadlineMs; },
  retry_policy: (t, i) => { t.retryPolicy = { ...i.retryPolicy }; },
  'retry_policy.max_attempts': (t, i) => { t.retryPolicy = { ...t.retryPolicy, maxAttempts: i.retryPolicy.maxAttempts }; },
  'retry_policy.initial_backoff': (t, i) => { t.retryPolicy = { ...t.retryPolicy, initialBackoffMs: i.retryPolicy.initialBackoffMs }; },
  'retry_policy.max_backoff': (t, i) => { t.retryPolicy = { ...t.retryPolicy, maxBackoffMs: i.retryPolicy.maxBackoffMs }; },
  'retry_policy.multiplier': (t, i) => { t.retryPolicy = { ...t.retryPolicy, multiplier: i.retryPolicy.multiplier }; },
  'retry_policy.jitter': (t, i) => { t.retryPolicy = { ...t.retryPolicy, jitter: i.retryPolicy.jitter }; },
  overlap_policy: (t, i) => { t.overlapPolicy = i.overlapPolicy; },
  misfire_policy: (t, i) => { t.misfirePolicy = i.misfirePolicy; },
  catchup_window: (t, i) => { t.catchupWindowMs = i.catchupWindowMs; },
  start_time: (t, i) => { t.startTime = i.startTime; },
  end_time: (t, i) => { t.endTime = i.endTime; },
  max_runs: (t, i) => { t.maxRuns = i.maxRuns; },
  pause_after_failures: (t, i) => { t.pauseAfterFailures = i.pauseAfterFailures; },
};

/** What an empty mask (or "*") replaces: every mutable top-level field. */
export const MUTABLE_TASK_PATHS: readonly string[] = [
  'description', 'schedule', 'action', 'labels', 'attempt_deadline', 'retry_policy', 'overlap_policy',
  'misfire_policy', 'catchup_window', 'start_time', 'end_time', 'max_runs', 'pause_after_failures',
];

const OUTPUT_ONLY = new Set([
  'next_run_times', 'create_time', 'update_time', 'etag', 'last_execution', 'paused_reason', 'run_count',
  'consecutive_failures', 'created_by', 'updated_by',
]);

/**
 * The stored spec with the masked fields taken from `incoming` (a new object; inputs untouched).
 * `name` and `state` may appear only when unchanged. Throws InvalidArgumentError on `prefix`.
 */
export function applyUpdateMask(current: TaskSpec, incoming: TaskSpec, paths: string[], prefix = 'update_mask'): TaskSpec {
  const violations: FieldViolation[] = [];
  const bad = (description: string): void => {
    violations.push({ field: prefix, description });
  };
  const effective = paths.length === 0 || paths.includes('*') ? MUTABLE_TASK_PATHS : paths;
  if (paths.includes('*') && paths.length > 1) bad('"*" replaces every field and must be the only path');
  const result: TaskSpec = {
    ...current,
    schedule: { ...current.schedule },
    labels: { ...current.labels },
    retryPolicy: { ...current.retryPolicy },
  };
  for (const path of effective) {
    const setter = SETTERS[path];
    if (setter !== undefined) setter(result, incoming);
    else if (path === 'name') {
      if (incoming.name !== current.name) bad('"name" is immutable: it is the task\'s id');
    } else if (path === 'state') {
      if (incoming.state !== current.state) bad('"state" cannot be updated: use PauseTask or ResumeTask');
    } else if (OUTPUT_ONLY.has(path)) bad(`"${path}" is output only`);
    else bad(unknownPath(path));
  }
  if (violations.length > 0) throw new InvalidArgumentError(violations);
  return result;
}

/** True when the change moves the task's occurrences (so its schedule anchor must move too). */
export function scheduleChanged(a: TaskSpec, b: TaskSpec): boolean {
  return (
    normalizeCron(a.schedule.cron) !== normalizeCron(b.schedule.cron) ||
    effectiveTimeZone(a.schedule) !== effectiveTimeZone(b.schedule)
  );
}

function unknownPath(path: string): string {
  const snake = path.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  if (snake !== path && (SETTERS[snake] !== undefined || OUTPUT_ONLY.has(snake))) {
    return `unknown path "${path}": paths use proto field names, did you mean "${snake}"?`;
  }
  return `unknown path "${path}"; updatable: ${Object.keys(SETTERS).join(', ')}`;
}
