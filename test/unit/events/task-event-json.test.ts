import assert from 'node:assert/strict';
import { test } from 'node:test';
import { create, toJsonString } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { TaskChange as DomainTaskChange, TaskEvent } from '../../../src/domain/task-event.js';
import type { ActionSpec, Task } from '../../../src/domain/task.js';
import { protoJsonEncoders } from '../../../src/events/event-encoding.js';
import { taskEventJson } from '../../../src/events/task-event-json.js';
import { TaskChange, TaskEventSchema } from '../../../src/gen/cronplane/v1/task_pb.js';
import { taskViewToProto } from '../../../src/grpc/convert-task.js';
import { rng } from '../../helpers/rng.js';

const CHANGES: Record<DomainTaskChange, TaskChange> = {
  created: TaskChange.CREATED,
  updated: TaskChange.UPDATED,
  deleted: TaskChange.DELETED,
  paused: TaskChange.PAUSED,
  resumed: TaskChange.RESUMED,
};

/** What event-encoding.ts did before the hand-written encoder: protobuf-es by reflection. */
function reference(event: TaskEvent): string {
  return toJsonString(TaskEventSchema, create(TaskEventSchema, {
    id: event.id,
    time: timestampFromMs(event.time),
    change: CHANGES[event.change],
    task: taskViewToProto({ task: event.task, nextRunTimes: [], lastExecution: undefined }),
  }));
}

const TEXTS = ['', 'boom', 'quote " backslash \\ newline \n tab \t', 'unicode é ✓ 𝄞', '\u0000\u001f control', 'x'.repeat(300)];

function randomEvent(next: () => number): TaskEvent {
  const pick = <T>(values: readonly T[]): T => values[Math.floor(next() * values.length)]!;
  const int = (max: number) => (next() < 0.3 ? 0 : Math.floor(next() * max));
  const instant = () => pick([0, 1_000, -86_400_000 * 365 * 100, -1_500, -999, 1_700_000_000_000 + Math.floor(next() * 1e10), 1_700_000_000_123,
    Date.parse('0001-01-01T00:00:00Z'), Date.parse('9999-12-31T23:59:59.999Z')]);
  const duration = () => pick([0, 1, 999, 1_000, 1_500, 60_000, 61_005, 30 * 60_000]);
  const map = (): Record<string, string> => {
    const out: Record<string, string> = {};
    for (let i = int(4); i > 0; i--) out[pick(['team', 'env', '2', '10', 'x-trace', 'é'])] = pick(TEXTS);
    return out;
  };
  const bytes = () => {
    const all = Uint8Array.from({ length: pick([0, 1, 2, 3, 17, 300]) + 5 }, () => Math.floor(next() * 256));
    return next() < 0.5 ? all.subarray(5) : all.slice(5); // a view into a larger buffer, or its own
  };
  const actions: (() => ActionSpec)[] = [
    () => ({ kind: 'natsPublish', subject: pick(['', 'jobs.a', 'jobs.é']), payload: bytes(), headers: map(), jetstream: next() < 0.5 }),
    () => ({ kind: 'natsRequest', subject: pick(['', 'rpc.b']), payload: bytes(), headers: map() }),
    () => ({ kind: 'http', url: pick(['', 'https://example.com/hook?a=1&b="2"']), method: pick(['', 'POST', 'GET']), headers: map(), body: bytes(), successCodes: pick([[], [200], [200, 204, 301]]) }),
  ];
  const task: Task = {
    name: pick(['', 'a', 'billing_report']),
    description: pick(TEXTS),
    schedule: { cron: pick(['', '* * * * * *', '0 9 * * MON-FRI']), timeZone: pick(['', 'Europe/Berlin']) },
    action: pick(actions)(),
    state: pick(['ENABLED', 'PAUSED'] as const),
    labels: map(),
    attemptDeadlineMs: duration(),
    retryPolicy: { maxAttempts: int(10), initialBackoffMs: duration(), maxBackoffMs: duration(), multiplier: pick([0, -0, 1, 2, 1.5, 0.1, 1e21, 3.3333333333333335]), jitter: pick([0, -0, 0.2, 1, 0.30000000000000004]) },
    overlapPolicy: pick(['SKIP', 'ALLOW', 'BUFFER_ONE', 'CANCEL_PREVIOUS'] as const),
    misfirePolicy: pick(['RUN_ONCE', 'SKIP', 'RUN_ALL'] as const),
    catchupWindowMs: duration(),
    startTime: next() < 0.5 ? undefined : instant(),
    endTime: next() < 0.5 ? undefined : instant(),
    maxRuns: int(100),
    pauseAfterFailures: int(5),
    pausedReason: pick(TEXTS),
    createTime: instant(),
    updateTime: instant(),
    etag: pick(['', '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b']),
    runCount: int(1e6),
    consecutiveFailures: int(7),
    createdBy: pick(['', 'alice']),
    updatedBy: pick(['', 'bob "the" admin']),
    scheduleAnchor: instant(),
    createRequestId: pick(['', 'req-1']),
  };
  return { sequence: Math.floor(next() * 1e6), id: pick(['', 'te-1']), time: instant(), change: pick(Object.keys(CHANGES) as DomainTaskChange[]), task };
}

test('taskEventJson writes exactly what protobuf-es writes for the proto event', () => {
  const next = rng(11);
  for (let i = 0; i < 5_000; i++) {
    const event = randomEvent(next);
    assert.equal(taskEventJson(event), reference(event), JSON.stringify(event, (_k, v: unknown) => (v instanceof Uint8Array ? [...v] : v)));
  }
});

test('the NATS body encoder uses it and gives UTF-8 bytes', () => {
  const event = randomEvent(rng(5));
  assert.equal(new TextDecoder().decode(protoJsonEncoders.task(event)), reference(event));
});
