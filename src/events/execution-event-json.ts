import type { Attempt, Execution, ExecutionEvent, ExecutionState, Trigger } from '../domain/execution.js';
import { durationJson, enumName, int32Json, quote, timestampJson } from './proto-json.js';

/**
 * The protobuf JSON of an `ExecutionEvent`, written by hand: byte for byte what
 * `toJsonString(ExecutionEventSchema, executionEventToProto(event))` gives (fields in number
 * order, implicit zero values left out, enums by name, uint64 as a string, Timestamp and
 * Duration in their JSON forms, strings escaped by JSON.stringify), without protobuf-es
 * reflection, which cost about half of the outbox publisher's time. A unit test compares both
 * over many events: keep them in step when execution.proto or convert-execution.ts changes.
 */

/** Enum names as JSON strings (quoted). */
const STATE_NAMES: Readonly<Record<ExecutionState, string>> = {
  PENDING: '"EXECUTION_STATE_PENDING"',
  RUNNING: '"EXECUTION_STATE_RUNNING"',
  SUCCEEDED: '"EXECUTION_STATE_SUCCEEDED"',
  FAILED: '"EXECUTION_STATE_FAILED"',
  TIMED_OUT: '"EXECUTION_STATE_TIMED_OUT"',
  CANCELLED: '"EXECUTION_STATE_CANCELLED"',
  RETRYING: '"EXECUTION_STATE_RETRYING"',
  SKIPPED: '"EXECUTION_STATE_SKIPPED"',
  MISSED: '"EXECUTION_STATE_MISSED"',
  LOST: '"EXECUTION_STATE_LOST"',
};

const TRIGGER_NAMES: Readonly<Record<Trigger, string>> = {
  SCHEDULE: '"TRIGGER_SCHEDULE"',
  MANUAL: '"TRIGGER_MANUAL"',
  CATCHUP: '"TRIGGER_CATCHUP"',
};

function attemptJson(a: Attempt): string {
  let json = '{';
  if (a.number !== 0) json += `"number":${int32Json(a.number)},`;
  json += `"startTime":${timestampJson(a.startTime)}`;
  if (a.endTime !== undefined) json += `,"endTime":${timestampJson(a.endTime)}`;
  json += `,"state":${enumName(STATE_NAMES, a.state)}`;
  if (a.error !== '') json += `,"error":${quote(a.error)}`;
  return `${json}}`;
}

function executionJson(e: Execution): string {
  let json = '{';
  if (e.id !== '') json += `"id":${quote(e.id)},`;
  if (e.taskName !== '') json += `"taskName":${quote(e.taskName)},`;
  json += `"scheduledTime":${timestampJson(e.scheduledTime)}`;
  if (e.startTime !== undefined) json += `,"startTime":${timestampJson(e.startTime)}`;
  if (e.endTime !== undefined) json += `,"endTime":${timestampJson(e.endTime)}`;
  json += `,"state":${enumName(STATE_NAMES, e.state)}`;
  if (e.attempt !== 0) json += `,"attempt":${int32Json(e.attempt)}`;
  json += `,"trigger":${enumName(TRIGGER_NAMES, e.trigger)}`;
  if (e.error !== '') json += `,"error":${quote(e.error)}`;
  if (e.node !== '') json += `,"node":${quote(e.node)}`;
  if (e.startTime !== undefined) json += `,"lag":${durationJson(e.startTime - e.scheduledTime)}`;
  if (e.attempts.length > 0) {
    json += ',"attempts":[';
    for (let i = 0; i < e.attempts.length; i++) json += (i === 0 ? '' : ',') + attemptJson(e.attempts[i]!);
    json += ']';
  }
  if (e.output !== '') json += `,"output":${quote(e.output)}`;
  return `${json}}`;
}

/** The event's protobuf JSON text (see the file comment). */
export function executionEventJson(event: ExecutionEvent): string {
  let json = '{';
  if (event.sequence !== 0) json += `"sequence":"${String(event.sequence)}",`;
  if (event.id !== '') json += `"id":${quote(event.id)},`;
  return `${json}"time":${timestampJson(event.time)},"execution":${executionJson(event.execution)}}`;
}
