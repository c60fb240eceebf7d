import type { Attempt, Execution, ExecutionEvent, ExecutionState, Trigger } from '../domain/execution.js';
import { isoMillisTrimmed } from './iso-time.js';

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

/** google.protobuf.Timestamp's JSON range, as protobuf-es checks it. */
const MIN_TIMESTAMP_MS = Date.parse('0001-01-01T00:00:00Z');
const MAX_TIMESTAMP_MS = Date.parse('9999-12-31T23:59:59Z');

const quote = JSON.stringify as (value: string) => string;

function enumName(names: Readonly<Record<string, string>>, value: string): string {
  const name = Object.hasOwn(names, value) ? names[value] : undefined;
  if (name === undefined) throw new Error(`${value} is not a value of the enum`);
  return name;
}

/** An epoch-ms instant as google.protobuf.Timestamp JSON (timestampFromMillis drops sub-ms parts). */
function timestampJson(ms: number): string {
  const whole = Math.floor(ms);
  // protobuf-es checks whole seconds against the range.
  const secondsMs = Math.floor(whole / 1000) * 1000;
  if (!(secondsMs >= MIN_TIMESTAMP_MS && secondsMs <= MAX_TIMESTAMP_MS)) {
    throw new Error('cannot encode message google.protobuf.Timestamp to JSON: must be from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z inclusive');
  }
  // ".000Z" -> "Z"; whole milliseconds otherwise keep their three digits.
  return `"${isoMillisTrimmed(whole)}"`;
}

/** Epoch-ms duration as google.protobuf.Duration JSON (durationFromMillis truncates toward zero). */
function durationJson(ms: number): string {
  const whole = Math.trunc(ms);
  const seconds = Math.trunc(whole / 1000);
  const millis = Math.abs(whole - seconds * 1000);
  if (millis === 0) return `"${seconds}s"`;
  const text = `${seconds}.${String(millis).padStart(3, '0')}s`;
  return whole < 0 && seconds === 0 ? `"-${text}"` : `"${text}"`;
}

/** int32 as protobuf-es writes it: the number (JSON.stringify's form of it). */
function int32Json(value: number): string {
  return JSON.stringify(value);
}

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
