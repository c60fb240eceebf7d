import type { TaskChange, TaskEvent } from '../domain/task-event.js';
import type { ActionSpec, MisfirePolicy, OverlapPolicy, RetryPolicy, Task, TaskState } from '../domain/task.js';
import { durationJson, enumName, int32Json, quote, timestampJson } from './proto-json.js';

/**
 * The protobuf JSON of a `TaskEvent`, written by hand: byte for byte what
 * `toJsonString(TaskEventSchema, …taskViewToProto({ task, nextRunTimes: [], lastExecution:
 * undefined }))` gives (fields in declaration order, implicit zero values left out, message
 * fields always written, enums by name, bytes in standard base64, maps in key order). Reflection
 * cost about 21 us an event here (3 us by hand): a million created tasks took half a minute to drain, holding up
 * RPCs meanwhile. A unit test compares both over many events: keep them in step when
 * task.proto or convert-task.ts changes.
 */

const CHANGE_NAMES: Readonly<Record<TaskChange, string>> = {
  created: '"TASK_CHANGE_CREATED"',
  updated: '"TASK_CHANGE_UPDATED"',
  deleted: '"TASK_CHANGE_DELETED"',
  paused: '"TASK_CHANGE_PAUSED"',
  resumed: '"TASK_CHANGE_RESUMED"',
};
const STATE_NAMES: Readonly<Record<TaskState, string>> = {
  ENABLED: '"TASK_STATE_ENABLED"',
  PAUSED: '"TASK_STATE_PAUSED"',
};
const OVERLAP_NAMES: Readonly<Record<OverlapPolicy, string>> = {
  SKIP: '"OVERLAP_POLICY_SKIP"',
  ALLOW: '"OVERLAP_POLICY_ALLOW"',
  BUFFER_ONE: '"OVERLAP_POLICY_BUFFER_ONE"',
  CANCEL_PREVIOUS: '"OVERLAP_POLICY_CANCEL_PREVIOUS"',
};
const MISFIRE_NAMES: Readonly<Record<MisfirePolicy, string>> = {
  RUN_ONCE: '"MISFIRE_POLICY_RUN_ONCE"',
  SKIP: '"MISFIRE_POLICY_SKIP"',
  RUN_ALL: '"MISFIRE_POLICY_RUN_ALL"',
};

/** A double as protobuf-es writes it (+0 is left out by the caller). */
function doubleJson(value: number): string {
  if (Number.isNaN(value)) return '"NaN"';
  if (value === Infinity) return '"Infinity"';
  if (value === -Infinity) return '"-Infinity"';
  return JSON.stringify(value);
}

/** `,"name":{…}` for a non-empty string map, else nothing. */
function mapJson(name: string, map: Readonly<Record<string, string>>): string {
  const keys = Object.keys(map);
  if (keys.length === 0) return '';
  let json = `,"${name}":{`;
  for (let i = 0; i < keys.length; i++) json += `${i === 0 ? '' : ','}${quote(keys[i]!)}:${quote(map[keys[i]!]!)}`;
  return `${json}}`;
}

function bytesJson(name: string, bytes: Uint8Array): string {
  return bytes.byteLength === 0 ? '' : `,"${name}":"${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}"`;
}

function stringJson(name: string, value: string): string {
  return value === '' ? '' : `,"${name}":${quote(value)}`;
}

function int32Field(name: string, value: number): string {
  return value === 0 ? '' : `,"${name}":${int32Json(value)}`;
}

/** A message's fields written as `,"a":…,"b":…`: drop the first comma and wrap. */
function message(fields: string): string {
  return `{${fields.slice(1)}}`;
}

function actionJson(action: ActionSpec): string {
  switch (action.kind) {
    case 'natsPublish':
      return `{"natsPublish":${message(
        stringJson('subject', action.subject) + bytesJson('payload', action.payload) + mapJson('headers', action.headers) + (action.jetstream ? ',"jetstream":true' : ''),
      )}}`;
    case 'natsRequest':
      return `{"natsRequest":${message(stringJson('subject', action.subject) + bytesJson('payload', action.payload) + mapJson('headers', action.headers))}}`;
    case 'http':
      return `{"http":${message(
        stringJson('url', action.url) + stringJson('method', action.method) + mapJson('headers', action.headers) + bytesJson('body', action.body) +
          (action.successCodes.length === 0 ? '' : `,"successCodes":[${action.successCodes.map(int32Json).join(',')}]`),
      )}}`;
  }
}

function retryPolicyJson(policy: RetryPolicy): string {
  return message(
    int32Field('maxAttempts', policy.maxAttempts) +
      `,"initialBackoff":${durationJson(policy.initialBackoffMs)},"maxBackoff":${durationJson(policy.maxBackoffMs)}` +
      // protobuf-es leaves out +0 only (Object.is): -0 is written, as 0.
      (Object.is(policy.multiplier, 0) ? '' : `,"multiplier":${doubleJson(policy.multiplier)}`) +
      (Object.is(policy.jitter, 0) ? '' : `,"jitter":${doubleJson(policy.jitter)}`),
  );
}

function taskJson(task: Task): string {
  let json = stringJson('name', task.name) + stringJson('description', task.description);
  json += `,"schedule":${message(stringJson('cron', task.schedule.cron) + stringJson('timeZone', task.schedule.timeZone))}`;
  json += `,"action":${actionJson(task.action)}`;
  json += `,"state":${enumName(STATE_NAMES, task.state)}`;
  json += mapJson('labels', task.labels);
  json += `,"attemptDeadline":${durationJson(task.attemptDeadlineMs)}`;
  json += `,"retryPolicy":${retryPolicyJson(task.retryPolicy)}`;
  json += `,"overlapPolicy":${enumName(OVERLAP_NAMES, task.overlapPolicy)}`;
  json += `,"misfirePolicy":${enumName(MISFIRE_NAMES, task.misfirePolicy)}`;
  json += `,"catchupWindow":${durationJson(task.catchupWindowMs)}`;
  if (task.startTime !== undefined) json += `,"startTime":${timestampJson(task.startTime)}`;
  if (task.endTime !== undefined) json += `,"endTime":${timestampJson(task.endTime)}`;
  json += int32Field('maxRuns', task.maxRuns) + int32Field('pauseAfterFailures', task.pauseAfterFailures);
  json += `,"createTime":${timestampJson(task.createTime)},"updateTime":${timestampJson(task.updateTime)}`;
  json += stringJson('etag', task.etag) + stringJson('pausedReason', task.pausedReason);
  json += int32Field('runCount', task.runCount) + int32Field('consecutiveFailures', task.consecutiveFailures);
  json += stringJson('createdBy', task.createdBy) + stringJson('updatedBy', task.updatedBy);
  return message(json);
}

/** The event's protobuf JSON text (see the file comment). */
export function taskEventJson(event: TaskEvent): string {
  return message(`${stringJson('id', event.id)},"time":${timestampJson(event.time)},"change":${enumName(CHANGE_NAMES, event.change)},"task":${taskJson(event.task)}`);
}
