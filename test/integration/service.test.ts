import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { status as Status, type ServiceError } from '@grpc/grpc-js';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { Msg } from '@nats-io/transport-node';
import { ExecutionState, Trigger } from '../../src/gen/cronplane/v1/execution_pb.js';
import { TaskState } from '../../src/gen/cronplane/v1/task_pb.js';
import { badRequestFromMetadata } from '../../src/grpc/error-mapping.js';
import { JetStreamServer } from '../helpers/nats-cluster.js';
import { eventually, ServiceHarness } from '../helpers/service-harness.js';

const publishTask = (name: string, subject: string, cron = '* * * * * *') => ({
  name,
  schedule: { cron },
  action: { kind: { case: 'natsPublish' as const, value: { subject, payload: new TextEncoder().encode(`hello from ${name}`) } } },
});

function collect(h: ServiceHarness, subject: string): Msg[] {
  const msgs: Msg[] = [];
  const sub = h.nc.subscribe(subject);
  void (async () => { for await (const m of sub) msgs.push(m); })();
  return msgs;
}

async function rejectsWith(promise: Promise<unknown>, code: Status): Promise<ServiceError> {
  try {
    await promise;
  } catch (err) {
    const e = err as ServiceError;
    assert.equal(e.code, code, `expected ${Status[code]}, got ${Status[e.code]}: ${e.details}`);
    return e;
  }
  assert.fail(`expected ${Status[code]}, got success`);
}

/**
 * The same suite against both stores: the embedded SQLite file, and the replicated JetStream store
 * (one replica here) on a nats-server of its own with JetStream, so the fixed `cronplane_*`
 * bucket names never meet another test's; the server and its store dir go away in `after`.
 */
const STORES = ['sqlite', 'jetstream'] as const;

for (const store of STORES) describe(`the service end to end over gRPC and NATS (${store} store)`, () => {
  let h: ServiceHarness;
  let server: JetStreamServer | undefined;
  before(async () => {
    if (store === 'sqlite') {
      h = await new ServiceHarness().start();
      return;
    }
    server = await JetStreamServer.startSingle();
    h = await new ServiceHarness({
      CRONPLANE_STORE: 'jetstream',
      CRONPLANE_NATS_URL: server.url,
      CRONPLANE_EVENTS_STREAM: `CP_SERVICE_TEST_${process.pid}`,
    }).start();
  });
  after(async () => {
    await h?.close();
    await server?.destroy();
  });

  test('a per-second nats_publish task: messages, NATS events with CloudEvents headers, watch stream, history', async () => {
    const subject = `${h.prefix}.jobs.tick`;
    const messages = collect(h, subject);
    const events = collect(h, `${h.prefix}.executions.tick.>`);
    const watched: Array<{ state: ExecutionState; sequence: bigint; executionId: string }> = [];
    const abort = new AbortController();
    // From sequence 0: the kept events, then live, with no gap. A live-only watch could begin
    // after the first claim (its registration races the create under a loaded CI machine).
    const watch = h.client.watchExecutions({ taskNames: ['tick'], afterSequence: 0n }, { signal: abort.signal });
    const watching = (async () => {
      try { for await (const r of watch) watched.push({ state: r.event!.execution!.state, sequence: r.event!.sequence, executionId: r.event!.execution!.id }); } catch { /* cancelled */ }
    })();
    await h.nc.flush();

    const created = await h.client.createTask({ task: publishTask('tick', subject), requestId: 'req-1' });
    assert.equal(created.task!.state, TaskState.ENABLED);
    assert.equal(created.task!.nextRunTimes.length, 5);
    assert.ok(created.task!.etag !== '');

    await eventually(() => (messages.length >= 3 ? true : undefined), 6_000, '3 published messages');
    const m = messages[0]!;
    assert.equal(m.string(), 'hello from tick');
    assert.equal(m.headers!.get('Cronplane-Task'), 'tick');
    assert.match(m.headers!.get('Cronplane-Scheduled-Time'), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
    assert.equal(m.headers!.get('Idempotency-Key'), m.headers!.get('Cronplane-Execution-Id'));
    const scheduled = messages.slice(0, 3).map((x) => Date.parse(x.headers!.get('Cronplane-Scheduled-Time')));
    assert.deepEqual([scheduled[1]! - scheduled[0]!, scheduled[2]! - scheduled[1]!], [1000, 1000], 'one per second');

    const succeeded = await eventually(() => {
      const s = events.filter((e) => e.subject === `${h.prefix}.executions.tick.succeeded`);
      return s.length >= 2 ? s : undefined;
    }, 5_000, 'succeeded events');
    const ev = succeeded[0]!;
    for (const key of ['ce-specversion', 'ce-id', 'ce-source', 'ce-type', 'ce-time', 'ce-subject', 'content-type']) {
      assert.ok(ev.headers!.get(key) !== '', `${key} present`);
    }
    assert.equal(ev.headers!.get('ce-type'), 'io.cronplane.execution.succeeded');
    assert.equal(ev.headers!.get('ce-subject'), 'tick');
    const body = ev.json<{ sequence: string; execution: { taskName: string; state: string; node: string } }>();
    assert.equal(body.execution.taskName, 'tick');
    assert.equal(body.execution.state, 'EXECUTION_STATE_SUCCEEDED');
    assert.equal(body.execution.node, 'test-node');

    await eventually(() => (watched.filter((w) => w.state === ExecutionState.SUCCEEDED).length >= 2 ? true : undefined), 3_000, 'watched events');
    // The first execution's story: claimed ahead (SQLite: PENDING first) or at its time (replicas: RUNNING first).
    const first = watched.filter((w) => w.executionId === watched[0]!.executionId).map((w) => w.state);
    const story = store === 'jetstream' ? [ExecutionState.RUNNING, ExecutionState.SUCCEEDED] : [ExecutionState.PENDING, ExecutionState.RUNNING, ExecutionState.SUCCEEDED];
    assert.deepEqual(first, story);
    const seqs = watched.map((w) => w.sequence);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => (a < b ? -1 : 1)), 'monotonic sequence');

    const list = await h.client.listExecutions({ taskName: 'tick', states: [ExecutionState.SUCCEEDED] });
    assert.ok(list.executions.length >= 2);
    assert.ok(list.executions.every((e) => e.taskName === 'tick' && e.trigger === Trigger.SCHEDULE));
    assert.ok(list.executions[0]!.scheduledTime!.seconds > list.executions[1]!.scheduledTime!.seconds, 'newest first');
    const one = await h.client.getExecution({ id: list.executions[0]!.id });
    assert.equal(one.execution!.attempts.length, 1);

    // Pause stops the fires; resume restarts them; RunTask runs now as MANUAL; delete stops them for good.
    await h.client.pauseTask({ name: 'tick', reason: 'testing' });
    await new Promise((r) => setTimeout(r, 300)); // let an in-flight publish land
    const atPause = messages.length;
    await new Promise((r) => setTimeout(r, 2_200));
    assert.equal(messages.length, atPause, 'no fires while paused');
    const paused = await h.client.getTask({ name: 'tick' });
    assert.equal(paused.task!.state, TaskState.PAUSED);
    assert.equal(paused.task!.pausedReason, 'testing');

    const run = await h.client.runTask({ name: 'tick' });
    assert.equal(run.execution!.trigger, Trigger.MANUAL);
    await eventually(() => (messages.length === atPause + 1 ? true : undefined), 3_000, 'manual run message');

    await h.client.resumeTask({ name: 'tick' });
    await eventually(() => (messages.length >= atPause + 3 ? true : undefined), 4_000, 'fires after resume');

    await h.client.deleteTask({ name: 'tick' });
    await new Promise((r) => setTimeout(r, 300));
    const atDelete = messages.length;
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal(messages.length, atDelete, 'no fires after delete');
    await rejectsWith(h.client.getTask({ name: 'tick' }), Status.NOT_FOUND);

    abort.abort();
    await watching;
  });

  test('bad input: INVALID_ARGUMENT with field violations, never a crash', async () => {
    const bad = async (task: object, field: string, pattern: RegExp) => {
      const err = await rejectsWith(h.client.createTask({ task: task as never }), Status.INVALID_ARGUMENT);
      const violations = badRequestFromMetadata(err.metadata);
      const v = violations.find((x) => x.field === field);
      assert.ok(v, `violation on ${field}, got ${JSON.stringify(violations)}`);
      assert.match(v!.description, pattern);
    };
    const ok = publishTask('valid-name', 'some.subject');
    await bad({ ...ok, schedule: { cron: '0 0 32 * *' } }, 'task.schedule.cron', /day-of-month/);
    await bad({ ...ok, schedule: { cron: '0 0 30 2 *' } }, 'task.schedule.cron', /never fires/);
    await bad({ ...ok, schedule: { cron: '0 0 * * *', timeZone: 'Mars/Olympus' } }, 'task.schedule.time_zone', /Mars\/Olympus/);
    await bad({ ...ok, name: 'Bad Name!' }, 'task.name', /[a-z0-9]/);
    await bad({ ...ok, action: undefined }, 'task.action', /required/);
    await rejectsWith(h.client.createTask({}), Status.INVALID_ARGUMENT);
    await rejectsWith(h.client.getTask({ name: '' }), Status.INVALID_ARGUMENT);

    await h.client.createTask({ task: publishTask('dup', 'dup.subject', '0 0 * * *') });
    await rejectsWith(h.client.createTask({ task: publishTask('dup', 'dup.subject', '0 0 * * *') }), Status.ALREADY_EXISTS);
    await rejectsWith(h.client.getTask({ name: 'missing' }), Status.NOT_FOUND);
    await rejectsWith(h.client.pauseTask({ name: 'missing' }), Status.NOT_FOUND);
    await rejectsWith(h.client.getExecution({ id: 'missing' }), Status.NOT_FOUND);
    await rejectsWith(h.client.listTasks({ pageToken: '%%%' }), Status.INVALID_ARGUMENT);

    // The service is still up and the task intact.
    const dup = await h.client.getTask({ name: 'dup' });
    assert.equal(dup.task!.schedule!.cron, '0 0 * * *');
  });

  test('create is idempotent per request_id; UpdateTask with mask and etag; stale etag is ABORTED', async () => {
    const first = await h.client.createTask({ task: publishTask('upd', 'upd.subject', '0 0 * * *'), requestId: 'create-upd' });
    const again = await h.client.createTask({ task: publishTask('upd', 'upd.subject', '0 0 * * *'), requestId: 'create-upd' });
    assert.equal(again.task!.etag, first.task!.etag);

    const updated = await h.client.updateTask({
      task: { name: 'upd', schedule: { cron: '30 12 * * *', timeZone: 'Europe/Berlin' }, description: 'ignored' },
      updateMask: { paths: ['schedule'] },
      etag: first.task!.etag,
    });
    assert.equal(updated.task!.schedule!.cron, '30 12 * * *');
    assert.equal(updated.task!.schedule!.timeZone, 'Europe/Berlin');
    assert.equal(updated.task!.description, '', 'fields outside the mask unchanged');
    assert.notEqual(updated.task!.etag, first.task!.etag);
    const next = new Date(Number(updated.task!.nextRunTimes[0]!.seconds) * 1000);
    assert.equal(next.getUTCMinutes(), 30);

    await rejectsWith(h.client.updateTask({ task: { name: 'upd', description: 'x' }, updateMask: { paths: ['description'] }, etag: first.task!.etag }), Status.ABORTED);
    await rejectsWith(h.client.updateTask({ task: { name: 'upd' }, updateMask: { paths: ['create_time'] } }), Status.INVALID_ARGUMENT);
    await rejectsWith(h.client.deleteTask({ name: 'upd', etag: first.task!.etag }), Status.ABORTED);
    const still = await h.client.getTask({ name: 'upd' });
    assert.equal(still.task!.etag, updated.task!.etag, 'nothing written by the failed calls');
  });

  test('ListTasks pages and filters; PreviewSchedule lists times without creating anything', async () => {
    for (const n of ['page-a', 'page-b', 'page-c']) {
      await h.client.createTask({ task: { ...publishTask(n, 'p.subject', '0 0 * * *'), labels: { team: n === 'page-b' ? 'blue' : 'red' } } });
    }
    const p1 = await h.client.listTasks({ pageSize: 2, filter: 'name=page-*' });
    assert.deepEqual(p1.tasks.map((t) => t.name), ['page-a', 'page-b']);
    const p2 = await h.client.listTasks({ pageSize: 2, filter: 'name=page-*', pageToken: p1.nextPageToken });
    assert.deepEqual(p2.tasks.map((t) => t.name), ['page-c']);
    assert.equal(p2.nextPageToken, '');
    const blue = await h.client.listTasks({ filter: 'labels.team=blue' });
    assert.deepEqual(blue.tasks.map((t) => t.name), ['page-b']);

    const preview = await h.client.previewSchedule({
      schedule: { cron: '0 9 * * MON-FRI', timeZone: 'America/New_York' },
      startTime: { seconds: BigInt(Date.UTC(2026, 2, 6) / 1000) },
      count: 3,
    });
    assert.deepEqual(preview.times.map((t) => new Date(Number(t.seconds) * 1000).toISOString()), [
      '2026-03-06T14:00:00.000Z', // Friday, EST
      '2026-03-09T13:00:00.000Z', // Monday, EDT after the switch
      '2026-03-10T13:00:00.000Z',
    ]);
    await rejectsWith(h.client.previewSchedule({ schedule: { cron: 'nope' } }), Status.INVALID_ARGUMENT);
    await rejectsWith(h.client.getTask({ name: 'nope' }), Status.NOT_FOUND);
  });

  test('the configured store really holds the task and the history', async () => {
    await h.client.createTask({ task: publishTask('where', `${h.prefix}.where`, '0 0 1 1 *') });
    const run = await h.client.runTask({ name: 'where' });
    await eventually(async () => {
      const e = await h.client.getExecution({ id: run.execution!.id });
      return e.execution!.state === ExecutionState.SUCCEEDED ? e : undefined;
    }, 3_000, 'the manual run to finish');
    if (store === 'sqlite') {
      assert.ok(existsSync(join(h.dir, 'cronplane.db')), 'the SQLite file');
      return;
    }
    const kv = await new Kvm(h.nc).open('cronplane_tasks');
    const entry = await kv.get('where');
    assert.equal(entry?.operation, 'PUT', 'the task is in the KV bucket');
    assert.equal(entry!.json<{ name: string }>().name, 'where');
    // The history is the events stream: the execution's last event there is its final state.
    const jsm = await jetstreamManager(h.nc);
    const last = await jsm.streams.getMessage(`CP_SERVICE_TEST_${process.pid}`, { last_by_subj: `${h.prefix}.executions.where.>` });
    assert.equal(last?.subject, `${h.prefix}.executions.where.succeeded`);
    assert.equal(last!.json<{ execution: { id: string } }>().execution.id, run.execution!.id);
  });

  test('CancelExecution on an ended execution is FAILED_PRECONDITION', async () => {
    await h.client.createTask({ task: publishTask('once', `${h.prefix}.once`, '0 0 1 1 *') });
    const run = await h.client.runTask({ name: 'once' });
    const done = await eventually(async () => {
      const e = await h.client.getExecution({ id: run.execution!.id });
      return e.execution!.state === ExecutionState.SUCCEEDED ? e : undefined;
    }, 3_000, 'manual run to finish');
    assert.equal(done.execution!.trigger, Trigger.MANUAL);
    await rejectsWith(h.client.cancelExecution({ id: run.execution!.id }), Status.FAILED_PRECONDITION);
  });
});
