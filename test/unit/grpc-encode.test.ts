import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { create, toBinary, type DescMessage } from '@bufbuild/protobuf';
import { AttemptSchema, ExecutionEventSchema, ExecutionSchema } from '../../src/gen/cronplane/v1/execution_pb.js';
import { ActionSchema, HttpActionSchema, NatsPublishActionSchema, NatsRequestActionSchema, RetryPolicySchema, ScheduleSchema, TaskSchema } from '../../src/gen/cronplane/v1/task_pb.js';
import type { Attempt, Execution, ExecutionState, Trigger } from '../../src/domain/execution.js';
import { emptyTaskSpec, type ActionSpec, type Task } from '../../src/domain/task.js';
import type { TaskView } from '../../src/engine/scheduler-api.js';
import { CreateTaskResponseSchema, GetTaskResponseSchema, ListTasksResponseSchema, PauseTaskResponseSchema, ResumeTaskResponseSchema, UpdateTaskResponseSchema, WatchExecutionsResponseSchema } from '../../src/gen/cronplane/v1/scheduler_service_pb.js';
import { executionEventToProto } from '../../src/grpc/convert-execution.js';
import { encodeWatchResponse } from '../../src/grpc/encode-execution.js';
import { taskViewToProto } from '../../src/grpc/convert-task.js';
import { encodeListTasksResponse, encodeTaskResponse } from '../../src/grpc/encode-task.js';
import { ProtoWriter } from '../../src/grpc/proto-writer.js';

/** The reference: what the handlers answered before, through protobuf-es messages and toBinary. */
const viaProtobufEs = (view: TaskView) => Buffer.from(toBinary(GetTaskResponseSchema, create(GetTaskResponseSchema, { task: taskViewToProto(view) })));
const listViaProtobufEs = (tasks: TaskView[], nextPageToken: string) =>
  Buffer.from(toBinary(ListTasksResponseSchema, create(ListTasksResponseSchema, { tasks: tasks.map(taskViewToProto), nextPageToken })));

/** Deterministic pseudo-random choices, so a failure replays from its seed. */
class Rng {
  private x: number;
  constructor(seed: number) {
    this.x = seed >>> 0 || 1;
  }
  next(): number {
    this.x = (Math.imul(this.x, 1664525) + 1013904223) >>> 0;
    return this.x / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  string(): string {
    switch (this.int(6)) {
      case 0: return '';
      case 1: return `name-${this.int(1e6)}`;
      case 2: return 'x'.repeat(100 + this.int(300)); // a length that needs a two-byte varint
      case 3: return `Grüße ${this.int(100)} 日本語 😀`;
      case 4: return `lone \ud800 surrogate ${this.int(9)} \udfff`;
      default: return Array.from({ length: this.int(40) }, () => String.fromCharCode(32 + this.int(95))).join('');
    }
  }
  bytes(): Uint8Array {
    const size = this.pick([0, 0, 1, 14, 127, 128, 300, 20_000]);
    return Uint8Array.from({ length: size }, () => this.int(256));
  }
  map(): Record<string, string> {
    const out: Record<string, string> = {};
    const n = this.pick([0, 0, 1, 3, 70]);
    for (let i = 0; i < n; i++) out[this.pick(['team', 'env', `k${i}`, String(i), `Header-${i}`, ''])] = this.pick(['', 'v', this.string()]);
    return out;
  }
  int32(): number {
    return this.pick([0, 0, 1, 5, 127, 128, 300, 65_536, 2_147_483_647, -1, -300, -2_147_483_648]);
  }
  double(): number {
    return this.pick([0, -0, 1, 2, 0.5, 1.75, 100, 1e-9, Number.MAX_VALUE, Number.NaN, -3.25]);
  }
  ms(): number {
    return this.pick([0, 1, 999, 1_000, 1_500, 60_000, 86_400_000, 1_800_000_000_123, -1, -1_500, -62_135_596_800_000, 253_402_300_799_999, 4_294_967_296_000, 4_294_967_297_001]);
  }
  duration(): number {
    return this.pick([0, 1, 999, 1_000, 1_001, 60_000, 604_800_000, -1, -1_500, 123_456_789]);
  }
}

const STATES: ExecutionState[] = ['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELLED', 'RETRYING', 'SKIPPED', 'MISSED', 'LOST'];
const TRIGGERS: Trigger[] = ['SCHEDULE', 'MANUAL', 'CATCHUP'];

function randomAction(r: Rng): ActionSpec {
  switch (r.int(3)) {
    case 0: return { kind: 'natsPublish', subject: r.string(), payload: r.bytes(), headers: r.map(), jetstream: r.chance(0.5) };
    case 1: return { kind: 'natsRequest', subject: r.string(), payload: r.bytes(), headers: r.map() };
    default: return {
      kind: 'http',
      url: r.string(),
      method: r.pick(['', 'POST', 'GET']),
      headers: r.map(),
      body: r.bytes(),
      successCodes: r.pick([[], [200], [200, 201, 204], Array.from({ length: 100 }, (_, i) => 100 + i * 4), [-1, 0, 599]]),
    };
  }
}

function randomExecution(r: Rng): Execution {
  const attempts: Attempt[] = Array.from({ length: r.pick([0, 1, 3, 40]) }, (_, i) => ({
    number: i + 1,
    startTime: r.ms(),
    endTime: r.chance(0.5) ? r.ms() : undefined,
    state: r.pick(STATES),
    error: r.string(),
  }));
  return {
    id: r.string(),
    taskName: r.string(),
    scheduledTime: r.ms(),
    startTime: r.chance(0.7) ? r.ms() : undefined,
    endTime: r.chance(0.5) ? r.ms() : undefined,
    state: r.pick(STATES),
    attempt: r.int32(),
    trigger: r.pick(TRIGGERS),
    error: r.string(),
    node: r.string(),
    attempts,
    output: r.string(),
  };
}

function randomView(r: Rng): TaskView {
  const task: Task = {
    ...emptyTaskSpec(r.string()),
    description: r.string(),
    schedule: { cron: r.pick(['0 * * * *', '', '*/5 * * * * *', r.string()]), timeZone: r.pick(['', 'Europe/Berlin', r.string()]) },
    action: randomAction(r),
    state: r.pick(['ENABLED', 'PAUSED'] as const),
    labels: r.map(),
    attemptDeadlineMs: r.duration(),
    retryPolicy: { maxAttempts: r.int32(), initialBackoffMs: r.duration(), maxBackoffMs: r.duration(), multiplier: r.double(), jitter: r.double() },
    overlapPolicy: r.pick(['SKIP', 'ALLOW', 'BUFFER_ONE', 'CANCEL_PREVIOUS'] as const),
    misfirePolicy: r.pick(['RUN_ONCE', 'SKIP', 'RUN_ALL'] as const),
    catchupWindowMs: r.duration(),
    startTime: r.chance(0.5) ? r.ms() : undefined,
    endTime: r.chance(0.3) ? r.ms() : undefined,
    maxRuns: r.int32(),
    pauseAfterFailures: r.int32(),
    pausedReason: r.string(),
    createTime: r.ms(),
    updateTime: r.ms(),
    etag: r.string(),
    runCount: r.int32(),
    consecutiveFailures: r.int32(),
    createdBy: r.string(),
    updatedBy: r.string(),
    scheduleAnchor: r.ms(),
    createRequestId: r.string(),
  };
  const nextRunTimes = Array.from({ length: r.pick([0, 5, 1]) }, () => r.ms());
  return { task, nextRunTimes, lastExecution: r.chance(0.5) ? randomExecution(r) : undefined };
}

describe('task responses written without protobuf-es messages', () => {
  test('the same bytes as taskViewToProto + toBinary, for 3,000 random tasks', () => {
    const r = new Rng(20261126);
    for (let i = 0; i < 3000; i++) {
      const view = randomView(r);
      const expected = viaProtobufEs(view);
      const actual = encodeTaskResponse(view);
      assert.ok(actual.equals(expected), `task #${i} differs: ${actual.length} vs ${expected.length} bytes`);
    }
  });

  test('ListTasks pages: the same bytes, next_page_token included, empty page included', () => {
    const r = new Rng(7);
    for (let i = 0; i < 60; i++) {
      const tasks = Array.from({ length: r.pick([0, 1, 50, 200]) }, () => randomView(r));
      const token = r.pick(['', 'eyJhZnRlciI6InNjLTAwMDAwNDkifQ', r.string()]);
      assert.ok(encodeListTasksResponse({ tasks, nextPageToken: token }).equals(listViaProtobufEs(tasks, token)), `page #${i}`);
    }
  });

  test('a typical task, decoded again, is the task', () => {
    const view = randomView(new Rng(3));
    view.task.name = 'typical';
    const bytes = encodeTaskResponse(view);
    assert.ok(bytes.equals(viaProtobufEs(view)));
    assert.ok(bytes.includes(Buffer.from('typical')));
  });

  test('values protobuf-es refuses are refused too', () => {
    for (const patch of [{ runCount: 2 ** 31 }, { maxRuns: 1.5 }, { consecutiveFailures: Number.NaN }]) {
      const view = randomView(new Rng(11));
      Object.assign(view.task, patch);
      assert.throws(() => viaProtobufEs(view));
      assert.throws(() => encodeTaskResponse(view));
    }
  });
});

describe('WatchExecutions events written without protobuf-es messages', () => {
  test('the same bytes as executionEventToProto + toBinary, for 2,000 random events', () => {
    const r = new Rng(42);
    for (let i = 0; i < 2000; i++) {
      const event = { sequence: r.pick([0, 1, 127, 128, 300, 2 ** 31, 2 ** 32 + 5, 2 ** 40, Number.MAX_SAFE_INTEGER]), id: r.string(), time: r.ms(), execution: randomExecution(r) };
      const expected = Buffer.from(toBinary(WatchExecutionsResponseSchema, create(WatchExecutionsResponseSchema, { event: executionEventToProto(event) })));
      assert.ok(encodeWatchResponse(event).equals(expected), `event #${i}`);
    }
  });
});

describe('the hand-written encoders cover every field of the proto', () => {
  // A field added to the .proto must be added to encode-task.ts / encode-execution.ts too: this
  // list is what they write, and fails the build of the test when the schema moves on.
  const written: [DescMessage, number[]][] = [
    [TaskSchema, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29]],
    [ScheduleSchema, [1, 2]],
    [ActionSchema, [1, 2, 3]],
    [NatsPublishActionSchema, [1, 2, 3, 4]],
    [NatsRequestActionSchema, [1, 2, 3]],
    [HttpActionSchema, [1, 2, 3, 4, 5]],
    [RetryPolicySchema, [1, 2, 3, 4, 5]],
    [ExecutionSchema, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]],
    [AttemptSchema, [1, 2, 3, 4, 5]],
    [ExecutionEventSchema, [1, 2, 3, 4]],
    [GetTaskResponseSchema, [1]],
    [CreateTaskResponseSchema, [1]],
    [UpdateTaskResponseSchema, [1]],
    [PauseTaskResponseSchema, [1]],
    [ResumeTaskResponseSchema, [1]],
    [ListTasksResponseSchema, [1, 2]],
    [WatchExecutionsResponseSchema, [1]],
  ];
  for (const [schema, numbers] of written) {
    test(schema.typeName, () => {
      assert.deepEqual(schema.fields.map((f) => f.number).sort((a, b) => a - b), numbers);
    });
  }
});

describe('ProtoWriter', () => {
  test('back-patches lengths that need more than one byte, at every size boundary', () => {
    for (const size of [0, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152]) {
      const w = new ProtoWriter(8);
      const start = w.fork(1);
      w.raw(new Uint8Array(size).fill(7));
      w.join(start);
      w.string(2, 'after');
      const out = w.finish();
      let length = 0;
      let shift = 0;
      let at = 1;
      for (;;) {
        const b = out[at++]!;
        length += (b & 0x7f) * 2 ** shift;
        shift += 7;
        if ((b & 0x80) === 0) break;
      }
      assert.equal(out[0], 0x0a);
      assert.equal(length, size);
      assert.equal(out.subarray(at + size).toString('latin1'), '\x12\x05after');
    }
  });
});
