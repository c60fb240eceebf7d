import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { DurationSchema, TimestampSchema } from '@bufbuild/protobuf/wkt';
import { InvalidArgumentError } from '../../src/domain/errors.js';
import { EXECUTION_STATES, type Execution } from '../../src/domain/execution.js';
import { emptyTaskSpec, type Task as DomainTask, type TaskSpec } from '../../src/domain/task.js';
import { ExecutionState as ProtoExecutionState, Trigger as ProtoTrigger } from '../../src/gen/cronplane/v1/execution_pb.js';
import { WatchExecutionsRequestSchema } from '../../src/gen/cronplane/v1/scheduler_service_pb.js';
import {
  MisfirePolicy as ProtoMisfirePolicy,
  OverlapPolicy as ProtoOverlapPolicy,
  TaskSchema,
  TaskState as ProtoTaskState,
} from '../../src/gen/cronplane/v1/task_pb.js';
import {
  executionEventToProto,
  executionStateFromProto,
  executionStatesFromProto,
  executionStateToProto,
  executionToProto,
  watchQueryFromProto,
} from '../../src/grpc/convert-execution.js';
import { scheduleSpecFromProto, taskSpecFromProto, taskSpecToProto, taskViewToProto } from '../../src/grpc/convert-task.js';
import { durationFromMillis, msFromDuration, msFromTimestamp, timestampFromMillis } from '../../src/grpc/convert-time.js';

/** Through the wire format, as a request really arrives. */
function overTheWire(spec: TaskSpec): TaskSpec {
  return taskSpecFromProto(fromBinary(TaskSchema, toBinary(TaskSchema, taskSpecToProto(spec))));
}

function fullSpec(overrides: Partial<TaskSpec>): TaskSpec {
  return {
    ...emptyTaskSpec('nightly-report'),
    description: 'sends the report',
    schedule: { cron: '0 30 2 * * *', timeZone: 'Europe/Berlin' },
    state: 'PAUSED',
    labels: { team: 'billing', tier: 'gold' },
    attemptDeadlineMs: 90_500,
    retryPolicy: { maxAttempts: 5, initialBackoffMs: 250, maxBackoffMs: 30_000, multiplier: 1.5, jitter: 0.2 },
    overlapPolicy: 'CANCEL_PREVIOUS',
    misfirePolicy: 'RUN_ALL',
    catchupWindowMs: 3_600_000,
    startTime: Date.UTC(2026, 0, 1, 0, 0, 0, 123),
    endTime: Date.UTC(2027, 0, 1),
    maxRuns: 10,
    pauseAfterFailures: 3,
    ...overrides,
  };
}

function violationsOf(fn: () => unknown): { field: string; description: string }[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String(err)}`);
    return err.violations;
  }
  assert.fail('expected InvalidArgumentError');
}

describe('task spec conversion', () => {
  it('round-trips a NATS publish task with every field set', () => {
    const spec = fullSpec({
      action: {
        kind: 'natsPublish',
        subject: 'reports.nightly',
        payload: new Uint8Array([1, 2, 3]),
        headers: { 'X-Tenant': 'a' },
        jetstream: true,
      },
    });
    assert.deepEqual(overTheWire(spec), spec);
  });

  it('round-trips a NATS request task', () => {
    const spec = fullSpec({
      action: { kind: 'natsRequest', subject: 'svc.cleanup', payload: new TextEncoder().encode('{}'), headers: {} },
    });
    assert.deepEqual(overTheWire(spec), spec);
  });

  it('round-trips an HTTP task', () => {
    const spec = fullSpec({
      action: {
        kind: 'http',
        url: 'https://example.test/hook',
        method: 'PUT',
        headers: { authorization: 'Bearer x' },
        body: new Uint8Array([0, 255]),
        successCodes: [200, 204],
      },
      startTime: undefined,
      endTime: undefined,
    });
    assert.deepEqual(overTheWire(spec), spec);
  });

  it('applies the domain defaults to a task with only a name', () => {
    assert.deepEqual(taskSpecFromProto(create(TaskSchema, { name: 'a' })), emptyTaskSpec('a'));
    assert.deepEqual(taskSpecFromProto(undefined), emptyTaskSpec());
  });

  it('maps UNSPECIFIED enums to their documented defaults', () => {
    const spec = taskSpecFromProto(
      create(TaskSchema, {
        state: ProtoTaskState.UNSPECIFIED,
        overlapPolicy: ProtoOverlapPolicy.UNSPECIFIED,
        misfirePolicy: ProtoMisfirePolicy.UNSPECIFIED,
      }),
    );
    assert.equal(spec.state, 'ENABLED');
    assert.equal(spec.overlapPolicy, 'SKIP');
    assert.equal(spec.misfirePolicy, 'RUN_ONCE');
  });

  it('maps every task enum value', () => {
    const spec = taskSpecFromProto(
      create(TaskSchema, { state: ProtoTaskState.PAUSED, overlapPolicy: ProtoOverlapPolicy.BUFFER_ONE, misfirePolicy: ProtoMisfirePolicy.SKIP }),
    );
    assert.deepEqual([spec.state, spec.overlapPolicy, spec.misfirePolicy], ['PAUSED', 'BUFFER_ONE', 'SKIP']);
    const back = taskSpecToProto(spec);
    assert.deepEqual([back.state, back.overlapPolicy, back.misfirePolicy], [ProtoTaskState.PAUSED, ProtoOverlapPolicy.BUFFER_ONE, ProtoMisfirePolicy.SKIP]);
  });

  it('keeps an explicit 0s duration instead of the default', () => {
    const zero = create(DurationSchema, {});
    const spec = taskSpecFromProto(
      create(TaskSchema, {
        attemptDeadline: zero,
        catchupWindow: zero,
        retryPolicy: { initialBackoff: zero, maxBackoff: zero },
      }),
    );
    assert.equal(spec.attemptDeadlineMs, 0);
    assert.equal(spec.catchupWindowMs, 0);
    assert.equal(spec.retryPolicy.initialBackoffMs, 0);
    assert.equal(spec.retryPolicy.maxBackoffMs, 0);
  });

  it('fills a present but empty retry policy with defaults (max_attempts 0 means 1)', () => {
    const spec = taskSpecFromProto(create(TaskSchema, { retryPolicy: {} }));
    assert.deepEqual(spec.retryPolicy, emptyTaskSpec().retryPolicy);
    assert.equal(spec.retryPolicy.maxAttempts, 1);
  });

  it('leaves an action without a kind undefined, for validation to name', () => {
    assert.equal(taskSpecFromProto(create(TaskSchema, { action: {} })).action, undefined);
  });

  it('copies bytes out of the request buffer', () => {
    const payload = new Uint8Array([9, 9, 9]);
    const proto = create(TaskSchema, { action: { kind: { case: 'natsPublish', value: { subject: 's', payload } } } });
    const action = taskSpecFromProto(proto).action;
    assert.ok(action?.kind === 'natsPublish');
    payload[0] = 0;
    assert.deepEqual(action.payload, new Uint8Array([9, 9, 9]));
  });

  it('rejects unknown enum numbers with field paths', () => {
    const violations = violationsOf(() =>
      taskSpecFromProto(create(TaskSchema, { state: 7 as ProtoTaskState, overlapPolicy: 42 as ProtoOverlapPolicy, misfirePolicy: 9 as ProtoMisfirePolicy })),
    );
    assert.deepEqual(
      violations.map((v) => v.field),
      ['task.state', 'task.overlap_policy', 'task.misfire_policy'],
    );
  });

  it('rejects malformed durations and timestamps with field paths', () => {
    const violations = violationsOf(() =>
      taskSpecFromProto(
        create(TaskSchema, {
          retryPolicy: { maxBackoff: { seconds: 1n, nanos: -5 } },
          startTime: { seconds: 1n, nanos: 1_000_000_000 },
        }),
      ),
    );
    assert.deepEqual(violations.map((v) => v.field), ['task.retry_policy.max_backoff', 'task.start_time']);
  });

  it('converts a schedule, unset meaning empty', () => {
    assert.deepEqual(scheduleSpecFromProto(undefined), { cron: '', timeZone: '' });
    assert.deepEqual(scheduleSpecFromProto(create(TaskSchema, { schedule: { cron: '@daily', timeZone: 'UTC' } }).schedule), {
      cron: '@daily',
      timeZone: 'UTC',
    });
  });
});

describe('time conversion', () => {
  it('drops sub-millisecond parts of durations toward zero', () => {
    const violations: { field: string; description: string }[] = [];
    assert.equal(msFromDuration(create(DurationSchema, { seconds: 1n, nanos: 1_999_999 }), 'd', violations), 1001);
    assert.equal(msFromDuration(create(DurationSchema, { seconds: 0n, nanos: 999_999 }), 'd', violations), 0);
    assert.deepEqual(violations, []);
  });

  it('keeps negative durations negative so validation can name them', () => {
    const violations: { field: string; description: string }[] = [];
    assert.equal(msFromDuration(create(DurationSchema, { seconds: -2n, nanos: -500_000_000 }), 'd', violations), -2500);
    const spec = taskSpecFromProto(create(TaskSchema, { attemptDeadline: { seconds: -1n } }));
    assert.equal(spec.attemptDeadlineMs, -1000);
  });

  it('round-trips durations and timestamps, before 1970 included', () => {
    const violations: { field: string; description: string }[] = [];
    for (const ms of [0, 1, 999, 1000, 1500, -1, -1500, 1_700_000_000_123]) {
      assert.equal(msFromDuration(durationFromMillis(ms), 'd', violations), ms);
      assert.equal(msFromTimestamp(timestampFromMillis(ms), 't', violations), ms);
    }
    assert.deepEqual(violations, []);
    assert.deepEqual(timestampFromMillis(-1), create(TimestampSchema, { seconds: -1n, nanos: 999_000_000 }));
    // -0 must not leak into nanos: it would not match the sign rule of Duration.
    assert.ok(Object.is(durationFromMillis(-1000).nanos, 0));
  });

  it('drops sub-millisecond parts of timestamps', () => {
    const violations: { field: string; description: string }[] = [];
    assert.equal(msFromTimestamp(create(TimestampSchema, { seconds: 10n, nanos: 1_500_000 }), 't', violations), 10_001);
  });
});

describe('task view conversion', () => {
  const execution: Execution = {
    id: 'ex-1',
    taskName: 'nightly-report',
    scheduledTime: 1_700_000_000_000,
    startTime: 1_700_000_000_042,
    endTime: 1_700_000_001_000,
    state: 'SUCCEEDED',
    attempt: 1,
    trigger: 'CATCHUP',
    error: '',
    node: 'node-a',
    attempts: [{ number: 1, startTime: 1_700_000_000_042, endTime: 1_700_000_001_000, state: 'SUCCEEDED', error: '' }],
    output: 'ok',
  };

  it('includes the output-only fields', () => {
    const task: DomainTask = {
      ...fullSpec({ action: { kind: 'natsRequest', subject: 's', payload: new Uint8Array(), headers: {} } }),
      action: { kind: 'natsRequest', subject: 's', payload: new Uint8Array(), headers: {} },
      pausedReason: 'maintenance',
      createTime: 1_600_000_000_000,
      updateTime: 1_650_000_000_000,
      etag: 'W/"3"',
      runCount: 7,
      consecutiveFailures: 2,
      createdBy: 'alice',
      updatedBy: 'bob',
      scheduleAnchor: 1_600_000_000_000,
      createRequestId: 'req-1',
    };
    const proto = taskViewToProto({ task, nextRunTimes: [1_700_000_000_000, 1_700_000_086_400], lastExecution: execution });
    assert.deepEqual(proto.nextRunTimes.map((t) => Number(t.seconds)), [1_700_000_000, 1_700_000_086]);
    assert.equal(proto.createTime?.seconds, 1_600_000_000n);
    assert.equal(proto.updateTime?.seconds, 1_650_000_000n);
    assert.equal(proto.etag, 'W/"3"');
    assert.equal(proto.pausedReason, 'maintenance');
    assert.equal(proto.runCount, 7);
    assert.equal(proto.consecutiveFailures, 2);
    assert.equal(proto.createdBy, 'alice');
    assert.equal(proto.updatedBy, 'bob');
    assert.equal(proto.lastExecution?.id, 'ex-1');
    assert.equal(proto.state, ProtoTaskState.PAUSED);
    // The spec part survives the trip back.
    assert.deepEqual(taskSpecFromProto(proto), fullSpec({ action: task.action }));
  });

  it('computes an execution lag once it started, and none before', () => {
    const proto = executionToProto(execution);
    assert.equal(proto.lag?.nanos, 42_000_000);
    assert.equal(proto.state, ProtoExecutionState.SUCCEEDED);
    assert.equal(proto.trigger, ProtoTrigger.CATCHUP);
    assert.equal(proto.attempts.length, 1);
    assert.equal(proto.attempts[0]?.endTime?.seconds, 1_700_000_001n);
    const pending = executionToProto({ ...execution, state: 'PENDING', startTime: undefined, endTime: undefined, attempts: [] });
    assert.equal(pending.lag, undefined);
    assert.equal(pending.startTime, undefined);
  });

  it('converts an event with its sequence as uint64', () => {
    const proto = executionEventToProto({ sequence: 42, id: 'ev-1', time: 1_700_000_000_500, execution });
    assert.equal(proto.sequence, 42n);
    assert.equal(proto.time?.nanos, 500_000_000);
    assert.equal(proto.execution?.id, 'ex-1');
  });
});

describe('execution state mapping', () => {
  it('maps every domain state both ways', () => {
    const violations: { field: string; description: string }[] = [];
    for (const state of EXECUTION_STATES) {
      const proto = executionStateToProto(state);
      assert.equal(ProtoExecutionState[proto], state);
      assert.equal(executionStateFromProto(proto, 'states[0]', violations), state);
    }
    assert.deepEqual(violations, []);
  });

  it('rejects UNSPECIFIED and unknown numbers in a filter, naming the index', () => {
    const violations = violationsOf(() => executionStatesFromProto([ProtoExecutionState.FAILED, 0, 99], 'states'));
    assert.deepEqual(violations.map((v) => v.field), ['states[1]', 'states[2]']);
  });

  it('turns a watch request into a query', () => {
    const query = watchQueryFromProto(
      create(WatchExecutionsRequestSchema, { taskNames: ['a'], states: [ProtoExecutionState.LOST], afterSequence: 12n }),
    );
    assert.deepEqual(query, { taskNames: ['a'], states: ['LOST'], afterSequence: 12 });
    const violations = violationsOf(() => watchQueryFromProto(create(WatchExecutionsRequestSchema, { afterSequence: 2n ** 60n })));
    assert.deepEqual(violations.map((v) => v.field), ['after_sequence']);
  });
});
