import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { clone, create } from '@bufbuild/protobuf';
import { changedPaths, planApply } from '../../src/cli/apply-plan.js';
import { TaskFileError } from '../../src/cli/errors.js';
import { parseTaskFile } from '../../src/cli/task-file.js';
import { MisfirePolicy, OverlapPolicy, ScheduleSchema, TaskSchema, TaskState, type Task } from '../../src/gen/cronplane/v1/task_pb.js';

const FILE = `
tasks:
  - name: report
    schedule: {cron: "0  30 2 * * *", time_zone: Europe/Berlin}
    action:
      http: {url: "http://reports.internal/run", method: post, body: '{"a":1}', headers: {X-Run: 1}}
    labels: {team: billing, version: 2}
    attempt_deadline: 1m30s
    retry_policy: {max_attempts: 3, initial_backoff: 500ms}
    overlap_policy: buffer-one
    misfire_policy: RUN_ALL
    state: paused
  - name: ping
    schedule: {cron: "@Hourly"}
    action: {natsPublish: {subject: jobs.ping, payload: héllo}}
`;

/** What the service answers for a task: defaults filled in, method upper-cased, cron as sent. */
function asServerWouldStore(original: Task, changes: Partial<Task> = {}): Task {
  const task = clone(TaskSchema, original);
  const stored = create(TaskSchema, {
    name: task.name,
    schedule: task.schedule,
    action: task.action,
    labels: { ...task.labels },
    state: task.state === TaskState.UNSPECIFIED ? TaskState.ENABLED : task.state,
    attemptDeadline: task.attemptDeadline ?? { seconds: 60n },
    retryPolicy: {
      maxAttempts: Math.max(1, task.retryPolicy?.maxAttempts ?? 1),
      initialBackoff: task.retryPolicy?.initialBackoff ?? { seconds: 1n },
      maxBackoff: { seconds: 60n },
      multiplier: 2,
    },
    overlapPolicy: task.overlapPolicy || OverlapPolicy.SKIP,
    misfirePolicy: task.misfirePolicy || MisfirePolicy.RUN_ONCE,
    catchupWindow: { seconds: 60n },
    etag: 'e1',
  });
  if (stored.action?.kind.case === 'http') stored.action.kind.value.method = stored.action.kind.value.method.toUpperCase() || 'POST';
  return Object.assign(stored, changes);
}

describe('parseTaskFile', () => {
  test('friendly forms become the proto values: durations, plain-text payloads, short enum names', () => {
    const [report, ping] = parseTaskFile(FILE, 'tasks.yaml');
    assert.equal(report!.name, 'report');
    const t = report!.task;
    assert.equal(t.schedule!.timeZone, 'Europe/Berlin');
    assert.equal(t.attemptDeadline!.seconds, 90n);
    assert.equal(t.retryPolicy!.initialBackoff!.nanos, 500_000_000);
    assert.equal(t.overlapPolicy, OverlapPolicy.BUFFER_ONE);
    assert.equal(t.misfirePolicy, MisfirePolicy.RUN_ALL);
    assert.equal(t.state, TaskState.PAUSED);
    assert.deepEqual(t.labels, { team: 'billing', version: '2' }, 'a YAML number label value is text');
    assert.equal(t.action!.kind.case, 'http');
    if (t.action!.kind.case === 'http') {
      assert.equal(new TextDecoder().decode(t.action!.kind.value.body), '{"a":1}');
      assert.deepEqual(t.action!.kind.value.headers, { 'X-Run': '1' });
    }
    const p = ping!.task.action!.kind;
    assert.equal(p.case, 'natsPublish', 'camelCase JSON names are accepted too');
    if (p.case === 'natsPublish') assert.equal(new TextDecoder().decode(p.value.payload), 'héllo');
  });

  test('the paths a task sets: units for schedule/action/labels, per field for retry_policy', () => {
    const [report, ping] = parseTaskFile(FILE, 'tasks.yaml');
    assert.deepEqual(report!.paths, [
      'schedule', 'action', 'labels', 'attempt_deadline', 'retry_policy.max_attempts', 'retry_policy.initial_backoff',
      'overlap_policy', 'misfire_policy', 'state',
    ]);
    assert.deepEqual(ping!.paths, ['schedule', 'action']);
  });

  test('every problem is reported at once with its place in the file', () => {
    const bad = `
tasks:
  - name: a
    schedule: {cron: "* * * * *", tz: UTC}
    attempt_deadline: soon
    overlap_policy: sometimes
    etag: abc
    action: {nats_publish: {subject: a}, http: {url: "http://x"}}
  - schedule: {cron: "* * * * *"}
  - name: dup
  - name: dup
extra: true
`;
    assert.throws(() => parseTaskFile(bad, 'bad.yaml'), (err: unknown) => {
      assert.ok(err instanceof TaskFileError);
      const text = err.problems.join('\n');
      for (const expected of [
        'extra: unknown top-level key',
        'tasks[0].schedule.tz: unknown field',
        'tasks[0].attempt_deadline: expected a duration',
        'tasks[0].overlap_policy: expected one of skip, allow, buffer-one, cancel-previous',
        'tasks[0].etag: is output only',
        'tasks[0].action: choose one of nats_publish, nats_request, http',
        'tasks[1].name: required',
        'tasks[3].name: "dup" is also tasks[2]',
      ]) {
        assert.ok(text.includes(expected), `expected "${expected}" in:\n${text}`);
      }
      return true;
    });
    assert.throws(() => parseTaskFile('tasks: [', 'x.yaml'), TaskFileError);
    assert.throws(() => parseTaskFile('name: a', 'x.yaml'), /top-level "tasks:" list/);
  });
});

describe('apply plan', () => {
  test('a task as the service stores it (defaults, normalized cron and method) is unchanged', () => {
    for (const desired of parseTaskFile(FILE, 'tasks.yaml')) {
      assert.deepEqual(changedPaths(desired, asServerWouldStore(desired.task)), [], desired.name);
    }
  });

  test('differences show up by path; fields the file leaves out are not compared', () => {
    const [report, ping] = parseTaskFile(FILE, 'tasks.yaml');
    const server = asServerWouldStore(report!.task, { description: 'set by hand', catchupWindow: { $typeName: 'google.protobuf.Duration', seconds: 5n, nanos: 0 } });
    assert.deepEqual(changedPaths(report!, server), [], 'description and catchup_window are not in the file');
    server.retryPolicy!.maxAttempts = 5;
    server.retryPolicy!.maxBackoff = { $typeName: 'google.protobuf.Duration', seconds: 9n, nanos: 0 };
    server.schedule!.timeZone = '';
    server.state = TaskState.ENABLED;
    server.labels['extra'] = 'x';
    assert.deepEqual(changedPaths(report!, server), ['schedule', 'labels', 'retry_policy.max_attempts', 'state']);
    const pingServer = asServerWouldStore(ping!.task, { schedule: create(ScheduleSchema, { cron: '@hourly', timeZone: 'UTC' }) });
    assert.deepEqual(changedPaths(ping!, pingServer), [], '"@Hourly" without a zone equals "@hourly" in UTC');
  });

  test('create what is missing, update what differs, delete prune candidates the file does not list, deletions last', () => {
    const [report, ping] = parseTaskFile(FILE, 'tasks.yaml');
    const current = new Map([['report', asServerWouldStore(report!.task, { overlapPolicy: OverlapPolicy.ALLOW })]]);
    const stale = create(TaskSchema, { name: 'old', labels: { owner: 'repo' } });
    const steps = planApply([report!, ping!], current, [stale, create(TaskSchema, { name: 'ping' })]);
    assert.deepEqual(steps.map((s) => `${s.kind} ${s.name}`), ['update report', 'create ping', 'delete old']);
    assert.deepEqual(steps[0]!.kind === 'update' && steps[0]!.changes, ['overlap_policy']);
  });
});
