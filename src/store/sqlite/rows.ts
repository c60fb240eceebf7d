import type { Attempt, Execution, ExecutionEvent } from '../../domain/execution.js';
import type { ActionSpec, Task } from '../../domain/task.js';
import { base64ToBytes, bytesToBase64 } from './base64.js';
import type { TaskEvent } from '../../domain/task-event.js';
import type { TaskEventRow, TaskRow } from './statements.js';

/*
 * Domain objects <-> the JSON kept in the `json` columns. Both directions name every field, so
 * - Uint8Array payloads/bodies travel as base64 strings under their own field names
 *   (`payloadBase64`, `bodyBase64`): no marker object that a user's label could imitate;
 * - `undefined` times are stored as null and come back as real `undefined` properties, so a
 *   decoded object has exactly the keys of the type (deepStrictEqual-equal to the original);
 * - stray properties on the in-memory object never reach the file.
 */

type StoredAction =
  | { kind: 'natsPublish'; subject: string; payloadBase64: string; headers: Record<string, string>; jetstream: boolean }
  | { kind: 'natsRequest'; subject: string; payloadBase64: string; headers: Record<string, string> }
  | {
      kind: 'http';
      url: string;
      method: string;
      headers: Record<string, string>;
      bodyBase64: string;
      successCodes: number[];
    };

type StoredTask = Omit<Task, 'action' | 'startTime' | 'endTime'> & {
  action: StoredAction;
  startTime: number | null;
  endTime: number | null;
};

type StoredAttempt = Omit<Attempt, 'endTime'> & { endTime: number | null };

type StoredExecution = Omit<Execution, 'startTime' | 'endTime' | 'attempts'> & {
  startTime: number | null;
  endTime: number | null;
  attempts: StoredAttempt[];
};

/** A row of `events` as selected by the store. */
export interface EventRow {
  sequence: number;
  id: string;
  time: number;
  execution: string;
}

function toNull(value: number | undefined): number | null {
  return value === undefined ? null : value;
}

function toUndefined(value: number | null | undefined): number | undefined {
  return value === null || value === undefined ? undefined : value;
}

function encodeAction(action: ActionSpec): StoredAction {
  switch (action.kind) {
    case 'natsPublish':
      return {
        kind: 'natsPublish',
        subject: action.subject,
        payloadBase64: bytesToBase64(action.payload),
        headers: { ...action.headers },
        jetstream: action.jetstream,
      };
    case 'natsRequest':
      return {
        kind: 'natsRequest',
        subject: action.subject,
        payloadBase64: bytesToBase64(action.payload),
        headers: { ...action.headers },
      };
    case 'http':
      return {
        kind: 'http',
        url: action.url,
        method: action.method,
        headers: { ...action.headers },
        bodyBase64: bytesToBase64(action.body),
        successCodes: [...action.successCodes],
      };
  }
}

function decodeAction(stored: StoredAction): ActionSpec {
  switch (stored.kind) {
    case 'natsPublish':
      return {
        kind: 'natsPublish',
        subject: stored.subject,
        payload: base64ToBytes(stored.payloadBase64),
        headers: stored.headers,
        jetstream: stored.jetstream,
      };
    case 'natsRequest':
      return {
        kind: 'natsRequest',
        subject: stored.subject,
        payload: base64ToBytes(stored.payloadBase64),
        headers: stored.headers,
      };
    case 'http':
      return {
        kind: 'http',
        url: stored.url,
        method: stored.method,
        headers: stored.headers,
        body: base64ToBytes(stored.bodyBase64),
        successCodes: stored.successCodes,
      };
    default:
      throw new Error(`stored task has an unknown action kind ${JSON.stringify((stored as { kind: unknown }).kind)}`);
  }
}

/**
 * The `json` column of a task row (its runCount is not read back: see taskFromRow), and the
 * task as the JetStream store's bucket keeps it (where runCount is the count).
 */
export function taskToJson(task: Task): string {
  const stored: StoredTask = {
    name: task.name,
    description: task.description,
    schedule: { cron: task.schedule.cron, timeZone: task.schedule.timeZone },
    action: encodeAction(task.action),
    state: task.state,
    labels: { ...task.labels },
    attemptDeadlineMs: task.attemptDeadlineMs,
    retryPolicy: {
      maxAttempts: task.retryPolicy.maxAttempts,
      initialBackoffMs: task.retryPolicy.initialBackoffMs,
      maxBackoffMs: task.retryPolicy.maxBackoffMs,
      multiplier: task.retryPolicy.multiplier,
      jitter: task.retryPolicy.jitter,
    },
    overlapPolicy: task.overlapPolicy,
    misfirePolicy: task.misfirePolicy,
    catchupWindowMs: task.catchupWindowMs,
    startTime: toNull(task.startTime),
    endTime: toNull(task.endTime),
    maxRuns: task.maxRuns,
    pauseAfterFailures: task.pauseAfterFailures,
    pausedReason: task.pausedReason,
    createTime: task.createTime,
    updateTime: task.updateTime,
    etag: task.etag,
    runCount: task.runCount,
    consecutiveFailures: task.consecutiveFailures,
    createdBy: task.createdBy,
    updatedBy: task.updatedBy,
    scheduleAnchor: task.scheduleAnchor,
    createRequestId: task.createRequestId,
  };
  return JSON.stringify(stored);
}

/** A task row as read with TASK_COLUMNS: the run count comes from task_runs, not the JSON. */
export function taskFromRow(row: TaskRow): Task {
  const task = taskFromJson(row.json);
  task.runCount = row.runCount ?? 0;
  return task;
}

/** Inverse of taskToJson: bytes back to Uint8Array, nulls back to undefined. */
export function taskFromJson(json: string): Task {
  const s = JSON.parse(json) as StoredTask;
  return {
    name: s.name,
    description: s.description,
    schedule: { cron: s.schedule.cron, timeZone: s.schedule.timeZone },
    action: decodeAction(s.action),
    state: s.state,
    labels: s.labels,
    attemptDeadlineMs: s.attemptDeadlineMs,
    retryPolicy: {
      maxAttempts: s.retryPolicy.maxAttempts,
      initialBackoffMs: s.retryPolicy.initialBackoffMs,
      maxBackoffMs: s.retryPolicy.maxBackoffMs,
      multiplier: s.retryPolicy.multiplier,
      jitter: s.retryPolicy.jitter,
    },
    overlapPolicy: s.overlapPolicy,
    misfirePolicy: s.misfirePolicy,
    catchupWindowMs: s.catchupWindowMs,
    startTime: toUndefined(s.startTime),
    endTime: toUndefined(s.endTime),
    maxRuns: s.maxRuns,
    pauseAfterFailures: s.pauseAfterFailures,
    pausedReason: s.pausedReason,
    createTime: s.createTime,
    updateTime: s.updateTime,
    etag: s.etag,
    runCount: s.runCount,
    consecutiveFailures: s.consecutiveFailures,
    createdBy: s.createdBy,
    updatedBy: s.updatedBy,
    scheduleAnchor: s.scheduleAnchor,
    createRequestId: s.createRequestId,
  };
}

/** The `labels` column of a task row: what label filters look into. */
export function taskLabelsToJson(task: Task): string {
  return JSON.stringify(task.labels);
}

/**
 * The fields executionToJson writes, in its order: the build fails here when Execution or
 * Attempt gains or loses a field, and a unit test checks the encoder writes exactly these.
 */
export const EXECUTION_JSON_FIELDS = Object.keys({
  id: 0, taskName: 0, scheduledTime: 0, startTime: 0, endTime: 0, state: 0, attempt: 0, trigger: 0,
  error: 0, node: 0, attempts: 0, output: 0,
} satisfies Record<keyof Execution, 0>);
export const ATTEMPT_JSON_FIELDS = Object.keys({
  number: 0, startTime: 0, endTime: 0, state: 0, error: 0,
} satisfies Record<keyof Attempt, 0>);

/** A JSON string literal (JSON.stringify's escaping). */
const quote = JSON.stringify as (value: string) => string;

/** A number or null as JSON.stringify writes it (a time is null when unset). */
function numberJson(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? 'null' : String(value);
}

function attemptToJson(a: Attempt): string {
  return `{"number":${numberJson(a.number)},"startTime":${numberJson(a.startTime)},"endTime":${numberJson(a.endTime)},"state":${quote(a.state)},"error":${quote(a.error)}}`;
}

/**
 * The `json` column of an execution row, and the `execution` column of an event row: the
 * text `JSON.stringify` gives for the stored form (every field, in this order, unset times as
 * null), written directly. It runs for every recorded change on the event loop, and skipping
 * the intermediate object halves its cost; a unit test compares both forms.
 */
export function executionToJson(e: Execution): string {
  let attempts = '';
  for (let i = 0; i < e.attempts.length; i++) attempts += (i === 0 ? '' : ',') + attemptToJson(e.attempts[i]!);
  return (
    `{"id":${quote(e.id)},"taskName":${quote(e.taskName)},"scheduledTime":${numberJson(e.scheduledTime)}` +
    `,"startTime":${numberJson(e.startTime)},"endTime":${numberJson(e.endTime)},"state":${quote(e.state)}` +
    `,"attempt":${numberJson(e.attempt)},"trigger":${quote(e.trigger)},"error":${quote(e.error)},"node":${quote(e.node)}` +
    `,"attempts":[${attempts}],"output":${quote(e.output)}}`
  );
}

/** Inverse of executionToJson. */
export function executionFromJson(json: string): Execution {
  const s = JSON.parse(json) as StoredExecution;
  return {
    id: s.id,
    taskName: s.taskName,
    scheduledTime: s.scheduledTime,
    startTime: toUndefined(s.startTime),
    endTime: toUndefined(s.endTime),
    state: s.state,
    attempt: s.attempt,
    trigger: s.trigger,
    error: s.error,
    node: s.node,
    attempts: s.attempts.map((a) => ({
      number: a.number,
      startTime: a.startTime,
      endTime: toUndefined(a.endTime),
      state: a.state,
      error: a.error,
    })),
    output: s.output,
  };
}

/** A stored event as the domain sees it. */
export function eventFromRow(row: EventRow): ExecutionEvent {
  return { sequence: row.sequence, id: row.id, time: row.time, execution: executionFromJson(row.execution) };
}

export function taskEventFromRow(row: TaskEventRow): TaskEvent {
  return { sequence: row.sequence, id: row.id, time: row.time, change: row.change, task: taskFromJson(row.task) };
}
