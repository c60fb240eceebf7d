import { InvalidArgumentError, InvalidScheduleError, type FieldViolation } from './errors.js';
import { compileSchedule, normalizeCron } from './schedule.js';
import {
  MAX_ATTEMPT_DEADLINE_MS,
  TASK_NAME_PATTERN,
  type ActionSpec,
  type RetryPolicy,
  type TaskSpec,
} from './task.js';

/**
 * Task validation: every rule a task must meet before it is stored, with field paths in the
 * request's proto names ("task.action.http.url") so a client can point at the bad input.
 */

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

/** Limits that clients can rely on (and tests assert). */
export const TASK_LIMITS = Object.freeze({
  descriptionChars: 1024,
  subjectChars: 255,
  payloadBytes: 1024 * 1024,
  headers: 64,
  headerNameChars: 256,
  headerValueChars: 8192,
  urlChars: 8192,
  successCodes: 100,
  labels: 64,
  labelValueChars: 256,
  maxAttempts: 100,
  backoffMs: DAY_MS,
  multiplier: 100,
  catchupWindowMs: 7 * DAY_MS,
  pauseAfterFailures: 1000,
});

/** Label keys: lower-case, dotted/dashed, short enough to be a metric label or SQL key. */
export const LABEL_KEY_PATTERN = /^[a-z][a-z0-9_.-]{0,62}$/;

/** The methods an HTTP action may use. */
export const HTTP_METHODS: readonly string[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'];

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Set by cronplane on every action: a user value would break de-duplication downstream. */
const RESERVED_HEADER = /^(cronplane-.*|idempotency-key)$/i;
/** Headers fetch manages itself (or refuses): setting them fails every run, so refuse up front. */
const HTTP_MANAGED_HEADERS = new Set([
  'connection', 'content-length', 'host', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
]);

/**
 * A deployment's own rule on actions (the HTTP target allowlist): violations with field paths
 * relative to the task ("action.http.url"), reported together with the built-in ones.
 */
export type ActionRule = (action: ActionSpec) => FieldViolation[];

/**
 * Throws one InvalidArgumentError listing every violation of the spec, or returns. `nowMs` (the
 * service clock) rejects a schedule whose year field lies wholly in the past; `actionRule` adds
 * the deployment's own checks on the action.
 */
export function validateTaskSpec(spec: TaskSpec, prefix = 'task', nowMs: number = Date.now(), actionRule?: ActionRule): void {
  const out: FieldViolation[] = [];
  const add = (field: string, description: string): void => {
    out.push({ field: `${prefix}.${field}`, description });
  };

  if (spec.name === '') add('name', 'required');
  else if (!TASK_NAME_PATTERN.test(spec.name)) {
    add('name', "must be 1-63 characters of a-z, 0-9, '_' and '-', starting with a letter or digit");
  }
  if (spec.description.length > TASK_LIMITS.descriptionChars) {
    add('description', `at most ${TASK_LIMITS.descriptionChars} characters, got ${spec.description.length}`);
  }
  try {
    compileSchedule(spec.schedule, `${prefix}.schedule`, nowMs);
  } catch (error) {
    if (!(error instanceof InvalidScheduleError)) throw error;
    out.push(...error.violations);
  }
  if (spec.action === undefined) add('action', 'required: set one of nats_publish, nats_request or http');
  else {
    checkAction(spec.action, add);
    for (const v of actionRule?.(spec.action) ?? []) add(v.field, v.description);
  }
  if (spec.state !== 'ENABLED' && spec.state !== 'PAUSED') add('state', 'must be TASK_STATE_ENABLED or TASK_STATE_PAUSED');
  checkLabels(spec.labels, add);
  if (!Number.isFinite(spec.attemptDeadlineMs) || spec.attemptDeadlineMs < 1) add('attempt_deadline', 'must be at least 1ms');
  else if (spec.attemptDeadlineMs > MAX_ATTEMPT_DEADLINE_MS) add('attempt_deadline', 'must be at most 30m');
  checkRetryPolicy(spec.retryPolicy, add);
  if (!['SKIP', 'ALLOW', 'BUFFER_ONE', 'CANCEL_PREVIOUS'].includes(spec.overlapPolicy)) {
    add('overlap_policy', 'must be SKIP, ALLOW, BUFFER_ONE or CANCEL_PREVIOUS');
  }
  if (!['RUN_ONCE', 'SKIP', 'RUN_ALL'].includes(spec.misfirePolicy)) add('misfire_policy', 'must be RUN_ONCE, SKIP or RUN_ALL');
  checkRange(spec.catchupWindowMs, 0, TASK_LIMITS.catchupWindowMs, 'catchup_window', 'between 0 and 7 days', add);
  checkTimes(spec, add);
  if (!Number.isSafeInteger(spec.maxRuns) || spec.maxRuns < 0) add('max_runs', 'must be a whole number >= 0 (0 = unlimited)');
  if (!Number.isInteger(spec.pauseAfterFailures) || spec.pauseAfterFailures < 0 || spec.pauseAfterFailures > TASK_LIMITS.pauseAfterFailures) {
    add('pause_after_failures', `must be a whole number from 0 (never) to ${TASK_LIMITS.pauseAfterFailures}`);
  }
  if (out.length > 0) throw new InvalidArgumentError(out);
}

/** The canonical form stored and compared: trimmed cron, maxAttempts >= 1, upper-case HTTP method. */
export function normalizeTaskSpec(spec: TaskSpec): TaskSpec {
  const action: ActionSpec | undefined =
    spec.action?.kind === 'http' ? { ...spec.action, method: spec.action.method.toUpperCase() || 'POST' } : spec.action;
  return {
    ...spec,
    schedule: { ...spec.schedule, cron: normalizeCron(spec.schedule.cron) },
    action,
    labels: { ...spec.labels },
    retryPolicy: { ...spec.retryPolicy, maxAttempts: spec.retryPolicy.maxAttempts === 0 ? 1 : spec.retryPolicy.maxAttempts },
  };
}

type Add = (field: string, description: string) => void;

function checkAction(action: ActionSpec, add: Add): void {
  switch (action.kind) {
    case 'natsPublish':
    case 'natsRequest': {
      const path = action.kind === 'natsPublish' ? 'action.nats_publish' : 'action.nats_request';
      const problem = subjectProblem(action.subject);
      if (problem !== undefined) add(`${path}.subject`, problem);
      checkPayload(action.payload, `${path}.payload`, add);
      checkHeaders(action.headers, `${path}.headers`, false, add);
      return;
    }
    case 'http': {
      const method = action.method.toUpperCase() || 'POST';
      if (!HTTP_METHODS.includes(method)) add('action.http.method', `must be one of ${HTTP_METHODS.join(', ')} (empty = POST)`);
      const problem = urlProblem(action.url);
      if (problem !== undefined) add('action.http.url', problem);
      checkPayload(action.body, 'action.http.body', add);
      if (action.body.byteLength > 0 && (method === 'GET' || method === 'HEAD')) {
        add('action.http.body', `a ${method} request cannot have a body`);
      }
      checkHeaders(action.headers, 'action.http.headers', true, add);
      if (action.successCodes.length > TASK_LIMITS.successCodes) add('action.http.success_codes', `at most ${TASK_LIMITS.successCodes} codes`);
      const bad = action.successCodes.find((code) => !Number.isInteger(code) || code < 100 || code > 599);
      if (bad !== undefined) add('action.http.success_codes', `${bad} is not an HTTP status code (100-599)`);
      return;
    }
    default:
      add('action', 'unknown action kind');
  }
}

function subjectProblem(subject: string): string | undefined {
  if (subject === '') return 'required';
  if (subject.length > TASK_LIMITS.subjectChars) return `at most ${TASK_LIMITS.subjectChars} characters`;
  if (/[\s\u0000-\u001f\u007f]/.test(subject)) return 'must not contain spaces or control characters';
  if (/[*>]/.test(subject)) return "must be a literal subject: wildcards '*' and '>' cannot be published to";
  if (subject.split('.').some((token) => token === '')) return "tokens between '.' must not be empty";
  return undefined;
}

function urlProblem(url: string): string | undefined {
  if (url === '') return 'required';
  if (url.length > TASK_LIMITS.urlChars) return `at most ${TASK_LIMITS.urlChars} characters`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'not an absolute URL';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return 'scheme must be http or https';
  if (parsed.username !== '' || parsed.password !== '') return 'must not carry credentials: use an Authorization header';
  return undefined;
}

function checkPayload(bytes: Uint8Array, field: string, add: Add): void {
  if (bytes.byteLength > TASK_LIMITS.payloadBytes) add(field, `at most 1 MiB, got ${bytes.byteLength} bytes`);
}

function checkHeaders(headers: Record<string, string>, field: string, http: boolean, add: Add): void {
  const names = Object.keys(headers);
  if (names.length > TASK_LIMITS.headers) add(field, `at most ${TASK_LIMITS.headers} headers, got ${names.length}`);
  for (const name of names) {
    const value = headers[name] as string;
    if (!HEADER_NAME.test(name) || name.length > TASK_LIMITS.headerNameChars) {
      add(field, `header name "${name}" must be 1-${TASK_LIMITS.headerNameChars} token characters (letters, digits, !#$%&'*+-.^_\`|~)`);
    } else if (RESERVED_HEADER.test(name)) {
      add(field, `header "${name}" is set by cronplane on every run`);
    } else if (http && HTTP_MANAGED_HEADERS.has(name.toLowerCase())) {
      add(field, `header "${name}" is managed by the HTTP client`);
    }
    if (/[\r\n\u0000]/.test(value)) add(field, `header "${name}": value must not contain CR, LF or NUL`);
    if (value.length > TASK_LIMITS.headerValueChars) add(field, `header "${name}": value longer than ${TASK_LIMITS.headerValueChars} characters`);
  }
}

function checkLabels(labels: Record<string, string>, add: Add): void {
  const keys = Object.keys(labels);
  if (keys.length > TASK_LIMITS.labels) add('labels', `at most ${TASK_LIMITS.labels} labels, got ${keys.length}`);
  for (const key of keys) {
    if (!LABEL_KEY_PATTERN.test(key)) {
      add('labels', `key "${key}" must be 1-63 characters of a-z, 0-9, '_', '.' and '-', starting with a letter`);
    }
    const value = labels[key] as string;
    if (value.length > TASK_LIMITS.labelValueChars) add('labels', `value of "${key}" longer than ${TASK_LIMITS.labelValueChars} characters`);
  }
}

function checkRetryPolicy(policy: RetryPolicy, add: Add): void {
  const p = 'retry_policy';
  if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 0 || policy.maxAttempts > TASK_LIMITS.maxAttempts) {
    add(`${p}.max_attempts`, `must be a whole number from 0 to ${TASK_LIMITS.maxAttempts} (0 = 1 = no retry)`);
  }
  const initialOk = checkRange(policy.initialBackoffMs, 0, TASK_LIMITS.backoffMs, `${p}.initial_backoff`, 'between 0 and 24h', add);
  const maxOk = checkRange(policy.maxBackoffMs, 0, TASK_LIMITS.backoffMs, `${p}.max_backoff`, 'between 0 and 24h', add);
  if (initialOk && maxOk && policy.initialBackoffMs > policy.maxBackoffMs) {
    add(`${p}.max_backoff`, 'must not be less than initial_backoff');
  }
  checkRange(policy.multiplier, 1, TASK_LIMITS.multiplier, `${p}.multiplier`, `between 1 and ${TASK_LIMITS.multiplier}`, add);
  checkRange(policy.jitter, 0, 1, `${p}.jitter`, 'between 0 and 1', add);
}

function checkTimes(spec: TaskSpec, add: Add): void {
  const startOk = spec.startTime === undefined || Number.isFinite(spec.startTime);
  const endOk = spec.endTime === undefined || Number.isFinite(spec.endTime);
  if (!startOk) add('start_time', 'not a valid time');
  if (!endOk) add('end_time', 'not a valid time');
  if (startOk && endOk && spec.startTime !== undefined && spec.endTime !== undefined && spec.startTime >= spec.endTime) {
    add('end_time', 'must be after start_time');
  }
}

function checkRange(value: number, min: number, max: number, field: string, text: string, add: Add): boolean {
  if (Number.isFinite(value) && value >= min && value <= max) return true;
  add(field, `must be ${text}`);
  return false;
}
