import { create } from '@bufbuild/protobuf';
import type { Duration } from '@bufbuild/protobuf/wkt';
import { InvalidArgumentError, type FieldViolation } from '../domain/errors.js';
import {
  emptyTaskSpec,
  type ActionSpec,
  type MisfirePolicy,
  type OverlapPolicy,
  type RetryPolicy,
  type ScheduleSpec,
  type TaskSpec,
  type TaskState,
} from '../domain/task.js';
import type { TaskView } from '../engine/scheduler-api.js';
import {
  ActionSchema,
  MisfirePolicy as ProtoMisfirePolicy,
  OverlapPolicy as ProtoOverlapPolicy,
  RetryPolicySchema,
  ScheduleSchema,
  TaskSchema,
  TaskState as ProtoTaskState,
  type Action,
  type RetryPolicy as ProtoRetryPolicy,
  type Schedule,
  type Task,
} from '../gen/cronplane/v1/task_pb.js';
import { enumFromProto } from './convert-enum.js';
import { executionToProto } from './convert-execution.js';
import { durationFromMillis, msFromDuration, msFromTimestamp, optionalTimestamp, timestampFromMillis } from './convert-time.js';

const TASK_STATE_FROM_PROTO: Readonly<Record<number, TaskState>> = {
  [ProtoTaskState.UNSPECIFIED]: 'ENABLED',
  [ProtoTaskState.ENABLED]: 'ENABLED',
  [ProtoTaskState.PAUSED]: 'PAUSED',
};
/** Also used by encode-task.ts (wire bytes written directly). */
export const TASK_STATE_TO_PROTO: Readonly<Record<TaskState, ProtoTaskState>> = {
  ENABLED: ProtoTaskState.ENABLED,
  PAUSED: ProtoTaskState.PAUSED,
};
const OVERLAP_FROM_PROTO: Readonly<Record<number, OverlapPolicy>> = {
  [ProtoOverlapPolicy.UNSPECIFIED]: 'SKIP',
  [ProtoOverlapPolicy.SKIP]: 'SKIP',
  [ProtoOverlapPolicy.ALLOW]: 'ALLOW',
  [ProtoOverlapPolicy.BUFFER_ONE]: 'BUFFER_ONE',
  [ProtoOverlapPolicy.CANCEL_PREVIOUS]: 'CANCEL_PREVIOUS',
};
/** Also used by encode-task.ts (wire bytes written directly). */
export const OVERLAP_TO_PROTO: Readonly<Record<OverlapPolicy, ProtoOverlapPolicy>> = {
  SKIP: ProtoOverlapPolicy.SKIP,
  ALLOW: ProtoOverlapPolicy.ALLOW,
  BUFFER_ONE: ProtoOverlapPolicy.BUFFER_ONE,
  CANCEL_PREVIOUS: ProtoOverlapPolicy.CANCEL_PREVIOUS,
};
const MISFIRE_FROM_PROTO: Readonly<Record<number, MisfirePolicy>> = {
  [ProtoMisfirePolicy.UNSPECIFIED]: 'RUN_ONCE',
  [ProtoMisfirePolicy.RUN_ONCE]: 'RUN_ONCE',
  [ProtoMisfirePolicy.SKIP]: 'SKIP',
  [ProtoMisfirePolicy.RUN_ALL]: 'RUN_ALL',
};
/** Also used by encode-task.ts (wire bytes written directly). */
export const MISFIRE_TO_PROTO: Readonly<Record<MisfirePolicy, ProtoMisfirePolicy>> = {
  RUN_ONCE: ProtoMisfirePolicy.RUN_ONCE,
  SKIP: ProtoMisfirePolicy.SKIP,
  RUN_ALL: ProtoMisfirePolicy.RUN_ALL,
};

/** Request bytes may be views into a gRPC frame buffer; the domain keeps its own copy. */
function copyBytes(bytes: Uint8Array): Uint8Array {
  return Uint8Array.from(bytes);
}

/** An unset Duration message means "default"; a present one is its value, 0s included. */
function durationOr(
  duration: Duration | undefined,
  defaultMs: number,
  field: string,
  violations: FieldViolation[],
): number {
  return duration === undefined ? defaultMs : msFromDuration(duration, field, violations);
}

/** A Schedule message in domain shape; an unset message is an empty schedule (validation names it). */
export function scheduleSpecFromProto(schedule: Schedule | undefined): ScheduleSpec {
  return { cron: schedule?.cron ?? '', timeZone: schedule?.timeZone ?? '' };
}

/** A domain schedule as the proto message. */
export function scheduleSpecToProto(schedule: ScheduleSpec): Schedule {
  return create(ScheduleSchema, { cron: schedule.cron, timeZone: schedule.timeZone });
}

/** The action oneof in domain shape; `undefined` when the client chose no kind (validation names it). */
export function actionSpecFromProto(action: Action | undefined): ActionSpec | undefined {
  const kind = action?.kind;
  switch (kind?.case) {
    case 'natsPublish':
      return {
        kind: 'natsPublish',
        subject: kind.value.subject,
        payload: copyBytes(kind.value.payload),
        headers: { ...kind.value.headers },
        jetstream: kind.value.jetstream,
      };
    case 'natsRequest':
      return {
        kind: 'natsRequest',
        subject: kind.value.subject,
        payload: copyBytes(kind.value.payload),
        headers: { ...kind.value.headers },
      };
    case 'http':
      return {
        kind: 'http',
        url: kind.value.url,
        method: kind.value.method,
        headers: { ...kind.value.headers },
        body: copyBytes(kind.value.body),
        successCodes: [...kind.value.successCodes],
      };
    default:
      return undefined;
  }
}

/** A domain action as the proto Action message with its oneof set. */
export function actionSpecToProto(action: ActionSpec): Action {
  switch (action.kind) {
    case 'natsPublish':
      return create(ActionSchema, {
        kind: {
          case: 'natsPublish',
          value: { subject: action.subject, payload: action.payload, headers: { ...action.headers }, jetstream: action.jetstream },
        },
      });
    case 'natsRequest':
      return create(ActionSchema, {
        kind: { case: 'natsRequest', value: { subject: action.subject, payload: action.payload, headers: { ...action.headers } } },
      });
    case 'http':
      return create(ActionSchema, {
        kind: {
          case: 'http',
          value: {
            url: action.url,
            method: action.method,
            headers: { ...action.headers },
            body: action.body,
            successCodes: [...action.successCodes],
          },
        },
      });
  }
}

function retryPolicyFromProto(policy: ProtoRetryPolicy | undefined, field: string, violations: FieldViolation[]): RetryPolicy {
  const defaults = emptyTaskSpec().retryPolicy;
  if (policy === undefined) return defaults;
  return {
    // 0 and 1 both mean "no retry"; the domain says 1.
    maxAttempts: policy.maxAttempts === 0 ? 1 : policy.maxAttempts,
    initialBackoffMs: durationOr(policy.initialBackoff, defaults.initialBackoffMs, `${field}.initial_backoff`, violations),
    maxBackoffMs: durationOr(policy.maxBackoff, defaults.maxBackoffMs, `${field}.max_backoff`, violations),
    multiplier: policy.multiplier === 0 ? defaults.multiplier : policy.multiplier,
    jitter: policy.jitter,
  };
}

function retryPolicyToProto(policy: RetryPolicy): ProtoRetryPolicy {
  return create(RetryPolicySchema, {
    maxAttempts: policy.maxAttempts,
    initialBackoff: durationFromMillis(policy.initialBackoffMs),
    maxBackoff: durationFromMillis(policy.maxBackoffMs),
    multiplier: policy.multiplier,
    jitter: policy.jitter,
  });
}

/**
 * What a client sent as a task, in domain shape with defaults for what it left unset. Output-only
 * fields are ignored. Unknown enum numbers and malformed times throw InvalidArgumentError with
 * field paths under `fieldPrefix` ("task.state", "task.retry_policy.max_backoff").
 */
export function taskSpecFromProto(task: Task | undefined, fieldPrefix = 'task'): TaskSpec {
  const spec = emptyTaskSpec();
  if (task === undefined) return spec;
  const violations: FieldViolation[] = [];
  const at = (name: string) => (fieldPrefix === '' ? name : `${fieldPrefix}.${name}`);
  spec.name = task.name;
  spec.description = task.description;
  spec.schedule = scheduleSpecFromProto(task.schedule);
  spec.action = actionSpecFromProto(task.action);
  spec.state = enumFromProto(task.state, TASK_STATE_FROM_PROTO, at('state'), violations, spec.state);
  spec.labels = { ...task.labels };
  spec.attemptDeadlineMs = durationOr(task.attemptDeadline, spec.attemptDeadlineMs, at('attempt_deadline'), violations);
  spec.retryPolicy = retryPolicyFromProto(task.retryPolicy, at('retry_policy'), violations);
  spec.overlapPolicy = enumFromProto(task.overlapPolicy, OVERLAP_FROM_PROTO, at('overlap_policy'), violations, spec.overlapPolicy);
  spec.misfirePolicy = enumFromProto(task.misfirePolicy, MISFIRE_FROM_PROTO, at('misfire_policy'), violations, spec.misfirePolicy);
  spec.catchupWindowMs = durationOr(task.catchupWindow, spec.catchupWindowMs, at('catchup_window'), violations);
  spec.startTime = task.startTime === undefined ? undefined : msFromTimestamp(task.startTime, at('start_time'), violations);
  spec.endTime = task.endTime === undefined ? undefined : msFromTimestamp(task.endTime, at('end_time'), violations);
  spec.maxRuns = task.maxRuns;
  spec.pauseAfterFailures = task.pauseAfterFailures;
  if (violations.length > 0) throw new InvalidArgumentError(violations);
  return spec;
}

/** A domain spec as a proto Task without output-only fields: what the CLI sends and tests round-trip. */
export function taskSpecToProto(spec: TaskSpec): Task {
  return create(TaskSchema, {
    name: spec.name,
    description: spec.description,
    schedule: scheduleSpecToProto(spec.schedule),
    action: spec.action === undefined ? undefined : actionSpecToProto(spec.action),
    state: TASK_STATE_TO_PROTO[spec.state],
    labels: { ...spec.labels },
    attemptDeadline: durationFromMillis(spec.attemptDeadlineMs),
    retryPolicy: retryPolicyToProto(spec.retryPolicy),
    overlapPolicy: OVERLAP_TO_PROTO[spec.overlapPolicy],
    misfirePolicy: MISFIRE_TO_PROTO[spec.misfirePolicy],
    catchupWindow: durationFromMillis(spec.catchupWindowMs),
    startTime: optionalTimestamp(spec.startTime),
    endTime: optionalTimestamp(spec.endTime),
    maxRuns: spec.maxRuns,
    pauseAfterFailures: spec.pauseAfterFailures,
  });
}

/** A task as clients see it, output-only fields included. */
export function taskViewToProto(view: TaskView): Task {
  const { task } = view;
  const proto = taskSpecToProto(task);
  proto.nextRunTimes = view.nextRunTimes.map(timestampFromMillis);
  proto.createTime = timestampFromMillis(task.createTime);
  proto.updateTime = timestampFromMillis(task.updateTime);
  proto.etag = task.etag;
  if (view.lastExecution !== undefined) proto.lastExecution = executionToProto(view.lastExecution);
  proto.pausedReason = task.pausedReason;
  proto.runCount = task.runCount;
  proto.consecutiveFailures = task.consecutiveFailures;
  proto.createdBy = task.createdBy;
  proto.updatedBy = task.updatedBy;
  return proto;
}
