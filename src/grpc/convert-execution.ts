import { create } from '@bufbuild/protobuf';
import { InvalidArgumentError, type FieldViolation } from '../domain/errors.js';
import { executionLag, type Attempt, type Execution, type ExecutionEvent, type ExecutionState, type Trigger } from '../domain/execution.js';
import {
  AttemptSchema,
  ExecutionEventSchema,
  ExecutionSchema,
  ExecutionState as ProtoExecutionState,
  Trigger as ProtoTrigger,
  type Attempt as ProtoAttempt,
  type Execution as ProtoExecution,
  type ExecutionEvent as ProtoExecutionEvent,
} from '../gen/cronplane/v1/execution_pb.js';
import type { WatchExecutionsRequest } from '../gen/cronplane/v1/scheduler_service_pb.js';
import type { WatchQuery } from '../engine/scheduler-api.js';
import { enumFromProto } from './convert-enum.js';
import { durationFromMillis, optionalTimestamp, timestampFromMillis } from './convert-time.js';

const STATE_TO_PROTO: Readonly<Record<ExecutionState, ProtoExecutionState>> = {
  PENDING: ProtoExecutionState.PENDING,
  RUNNING: ProtoExecutionState.RUNNING,
  SUCCEEDED: ProtoExecutionState.SUCCEEDED,
  FAILED: ProtoExecutionState.FAILED,
  TIMED_OUT: ProtoExecutionState.TIMED_OUT,
  CANCELLED: ProtoExecutionState.CANCELLED,
  RETRYING: ProtoExecutionState.RETRYING,
  SKIPPED: ProtoExecutionState.SKIPPED,
  MISSED: ProtoExecutionState.MISSED,
  LOST: ProtoExecutionState.LOST,
};
const STATE_FROM_PROTO: Readonly<Record<number, ExecutionState>> = Object.fromEntries(
  Object.entries(STATE_TO_PROTO).map(([domain, proto]) => [proto, domain as ExecutionState]),
);
const TRIGGER_TO_PROTO: Readonly<Record<Trigger, ProtoTrigger>> = {
  SCHEDULE: ProtoTrigger.SCHEDULE,
  MANUAL: ProtoTrigger.MANUAL,
  CATCHUP: ProtoTrigger.CATCHUP,
};

/** Domain execution states as the proto enum. */
export function executionStateToProto(state: ExecutionState): ProtoExecutionState {
  return STATE_TO_PROTO[state];
}

/**
 * A proto execution state as the domain's; UNSPECIFIED and unknown numbers are a violation on
 * `field`, since every place a client sends a state (filters) needs a real one.
 */
export function executionStateFromProto(value: number, field: string, violations: FieldViolation[]): ExecutionState {
  if (value === ProtoExecutionState.UNSPECIFIED) {
    violations.push({ field, description: 'must not be EXECUTION_STATE_UNSPECIFIED' });
    return 'PENDING';
  }
  return enumFromProto(value, STATE_FROM_PROTO, field, violations, 'PENDING');
}

/** A `repeated ExecutionState` filter in domain shape; throws InvalidArgumentError naming `field[i]`. */
export function executionStatesFromProto(values: readonly number[], field: string): ExecutionState[] {
  const violations: FieldViolation[] = [];
  const states = values.map((value, i) => executionStateFromProto(value, `${field}[${i}]`, violations));
  if (violations.length > 0) throw new InvalidArgumentError(violations);
  return states;
}

/** Domain triggers as the proto enum. */
export function triggerToProto(trigger: Trigger): ProtoTrigger {
  return TRIGGER_TO_PROTO[trigger];
}

function attemptToProto(attempt: Attempt): ProtoAttempt {
  return create(AttemptSchema, {
    number: attempt.number,
    startTime: timestampFromMillis(attempt.startTime),
    endTime: optionalTimestamp(attempt.endTime),
    state: STATE_TO_PROTO[attempt.state],
    error: attempt.error,
  });
}

/** An execution as clients see it, with `lag` derived (set once the first attempt started). */
export function executionToProto(execution: Execution): ProtoExecution {
  const lag = executionLag(execution);
  return create(ExecutionSchema, {
    id: execution.id,
    taskName: execution.taskName,
    scheduledTime: timestampFromMillis(execution.scheduledTime),
    startTime: optionalTimestamp(execution.startTime),
    endTime: optionalTimestamp(execution.endTime),
    state: STATE_TO_PROTO[execution.state],
    attempt: execution.attempt,
    trigger: TRIGGER_TO_PROTO[execution.trigger],
    error: execution.error,
    node: execution.node,
    lag: lag === undefined ? undefined : durationFromMillis(lag),
    attempts: execution.attempts.map(attemptToProto),
    output: execution.output,
  });
}

/** An execution event as streamed by WatchExecutions (and published on NATS). */
export function executionEventToProto(event: ExecutionEvent): ProtoExecutionEvent {
  return create(ExecutionEventSchema, {
    sequence: BigInt(event.sequence),
    id: event.id,
    time: timestampFromMillis(event.time),
    execution: executionToProto(event.execution),
  });
}

/** A WatchExecutions request as the api's query; an after_sequence beyond 2^53 cannot exist in any store. */
export function watchQueryFromProto(request: WatchExecutionsRequest): WatchQuery {
  const states = executionStatesFromProto(request.states, 'states');
  if (request.afterSequence !== undefined && request.afterSequence > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new InvalidArgumentError([{ field: 'after_sequence', description: 'is out of range' }]);
  }
  return { taskNames: [...request.taskNames], states, afterSequence: request.afterSequence === undefined ? undefined : Number(request.afterSequence) };
}
