import { executionLag, type Attempt, type Execution, type ExecutionEvent } from '../domain/execution.js';
import { executionStateToProto, triggerToProto } from './convert-execution.js';
import { ProtoWriter } from './proto-writer.js';

/**
 * cronplane.v1.Execution written straight from the domain execution: the bytes of
 * toBinary(ExecutionSchema, executionToProto(execution)) without building the message
 * (see proto-writer.ts). Field numbers follow proto/cronplane/v1/execution.proto.
 */

/** A google.protobuf.Timestamp field for an epoch-ms instant, as timestampFromMillis makes it. */
export function writeTimestamp(w: ProtoWriter, field: number, ms: number): void {
  const whole = Math.floor(ms);
  const seconds = Math.floor(whole / 1000);
  const start = w.fork(field);
  w.int64(1, seconds);
  w.int32(2, (whole - seconds * 1000) * 1_000_000);
  w.join(start);
}

/** A google.protobuf.Duration field for a ms duration, as durationFromMillis makes it. */
export function writeDuration(w: ProtoWriter, field: number, ms: number): void {
  const whole = Math.trunc(ms);
  const seconds = Math.trunc(whole / 1000);
  const start = w.fork(field);
  w.int64(1, seconds + 0);
  w.int32(2, (whole - seconds * 1000) * 1_000_000 + 0);
  w.join(start);
}

function writeAttempt(w: ProtoWriter, field: number, attempt: Attempt): void {
  const start = w.fork(field);
  w.int32(1, attempt.number);
  writeTimestamp(w, 2, attempt.startTime);
  if (attempt.endTime !== undefined) writeTimestamp(w, 3, attempt.endTime);
  w.int32(4, executionStateToProto(attempt.state));
  w.string(5, attempt.error);
  w.join(start);
}

/** An Execution message as field `field` of the enclosing message. */
export function writeExecution(w: ProtoWriter, field: number, execution: Execution): void {
  const start = w.fork(field);
  w.string(1, execution.id);
  w.string(2, execution.taskName);
  writeTimestamp(w, 3, execution.scheduledTime);
  if (execution.startTime !== undefined) writeTimestamp(w, 4, execution.startTime);
  if (execution.endTime !== undefined) writeTimestamp(w, 5, execution.endTime);
  w.int32(6, executionStateToProto(execution.state));
  w.int32(7, execution.attempt);
  w.int32(8, triggerToProto(execution.trigger));
  w.string(9, execution.error);
  w.string(10, execution.node);
  const lag = executionLag(execution);
  if (lag !== undefined) writeDuration(w, 11, lag);
  for (const attempt of execution.attempts) writeAttempt(w, 12, attempt);
  w.string(13, execution.output);
  w.join(start);
}

/** WatchExecutionsResponse `{ ExecutionEvent event = 1; }`, as executionEventToProto + toBinary would write it. */
export function encodeWatchResponse(event: ExecutionEvent): Buffer {
  const w = new ProtoWriter(256 + 64 * event.execution.attempts.length);
  const start = w.fork(1);
  w.int64(1, event.sequence); // uint64: the same varint for the non-negative sequences a store assigns
  w.string(2, event.id);
  writeTimestamp(w, 3, event.time);
  writeExecution(w, 4, event.execution);
  w.join(start);
  return w.finish();
}
