import { fromJsonString } from '@bufbuild/protobuf';
import type { Timestamp } from '@bufbuild/protobuf/wkt';
import { EXECUTION_STATES, type Attempt, type Execution, type ExecutionEvent, type ExecutionState, type Trigger } from '../../domain/execution.js';
import {
  ExecutionEventSchema,
  type Attempt as ProtoAttempt,
  type Execution as ProtoExecution,
} from '../../gen/cronplane/v1/execution_pb.js';
import { executionStateToProto, triggerToProto } from '../../grpc/convert-execution.js';

/*
 * The way back from the events stream: a published ExecutionEvent (protobuf JSON, as
 * event-encoding.ts writes it) to the domain event, so a replica can rebuild its read model
 * from the stream. Inverse of executionEventToProto for every field the domain keeps (`lag`
 * is derived and dropped).
 */

const TRIGGERS: readonly Trigger[] = ['SCHEDULE', 'MANUAL', 'CATCHUP'];
const STATE_BY_NUMBER = new Map<number, ExecutionState>(EXECUTION_STATES.map((s) => [executionStateToProto(s), s]));
const TRIGGER_BY_NUMBER = new Map<number, Trigger>(TRIGGERS.map((t) => [triggerToProto(t), t]));
const decoder = new TextDecoder();

function stateFromProto(value: number): ExecutionState {
  const state = STATE_BY_NUMBER.get(value);
  if (state === undefined) throw new Error(`unknown execution state ${value}`);
  return state;
}

function msFromTimestamp(t: Timestamp): number {
  return Number(t.seconds) * 1000 + Math.floor(t.nanos / 1_000_000);
}

function optionalMs(t: Timestamp | undefined): number | undefined {
  return t === undefined ? undefined : msFromTimestamp(t);
}

function attemptFromProto(a: ProtoAttempt): Attempt {
  return {
    number: a.number,
    startTime: optionalMs(a.startTime) ?? 0,
    endTime: optionalMs(a.endTime),
    state: stateFromProto(a.state),
    error: a.error,
  };
}

/** A proto Execution in domain shape; throws on an unknown state or trigger. */
export function executionFromProto(e: ProtoExecution): Execution {
  const trigger = TRIGGER_BY_NUMBER.get(e.trigger);
  if (trigger === undefined) throw new Error(`unknown trigger ${e.trigger}`);
  return {
    id: e.id,
    taskName: e.taskName,
    scheduledTime: optionalMs(e.scheduledTime) ?? 0,
    startTime: optionalMs(e.startTime),
    endTime: optionalMs(e.endTime),
    state: stateFromProto(e.state),
    attempt: e.attempt,
    trigger,
    error: e.error,
    node: e.node,
    attempts: e.attempts.map(attemptFromProto),
    output: e.output,
  };
}

/**
 * A message body of `<prefix>.executions.>` as a domain event. The body's own `sequence` is
 * ignored: in the stream, an event's sequence is its message's stream sequence.
 */
export function executionEventFromMessage(body: Uint8Array, streamSequence: number): ExecutionEvent {
  const proto = fromJsonString(ExecutionEventSchema, decoder.decode(body), { ignoreUnknownFields: true });
  if (proto.execution === undefined) throw new Error('execution event without an execution');
  return {
    sequence: streamSequence,
    id: proto.id,
    time: optionalMs(proto.time) ?? 0,
    execution: executionFromProto(proto.execution),
  };
}
