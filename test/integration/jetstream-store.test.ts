import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino, type Logger } from 'pino';
import { EtagMismatchError, TaskAlreadyExistsError, TaskNotFoundError, UnavailableError } from '../../src/domain/errors.js';
import type { Execution, ExecutionEvent } from '../../src/domain/execution.js';
import { EMPTY_TASK_FILTER, type TaskFilter } from '../../src/domain/task-filter.js';
import { emptyTaskSpec, type Task } from '../../src/domain/task.js';
import { JetStreamStore } from '../../src/store/jetstream/jetstream-store.js';
import type { JetStreamStoreOptions } from '../../src/store/jetstream/jetstream-store-options.js';
import { JetStreamCluster, JetStreamServer, waitForJetStream } from '../helpers/nats-cluster.js';
import { pendingExecution } from '../helpers/executions.js';

const T0 = Date.UTC(2025, 0, 1);

/** Silent unless CRONPLANE_TEST_LOG is set (then debug lines on stderr). */
function testLog(node: string): Logger {
  return pino({ level: process.env['CRONPLANE_TEST_LOG'] ? 'debug' : 'silent', base: { node } }, pino.destination(2));
}

let server: JetStreamServer;
const connections: NatsConnection[] = [];
const stores: JetStreamStore[] = [];
let namespaceCounter = 0;

before(async () => {
  server = await JetStreamServer.startSingle();
});

after(async () => {
  for (const store of stores) await store.close().catch(() => undefined);
  for (const nc of connections) await nc.close().catch(() => undefined);
  await server.destroy();
});

/** Names of one deployment (stream, subjects, buckets), so tests never share state. */
function deployment(): Pick<JetStreamStoreOptions, 'subjectPrefix' | 'streamName' | 'bucketPrefix'> {
  namespaceCounter += 1;
  const ns = `t${namespaceCounter}`;
  return { subjectPrefix: `acme.cp${ns}`, streamName: `CP_${ns}`, bucketPrefix: `cp${ns}` };
}

async function connection(): Promise<NatsConnection> {
  const nc = await connect({ servers: server.url, maxReconnectAttempts: 0 });
  connections.push(nc);
  return nc;
}

/** A replica: its own NATS connection (closing it simulates the process dying). */
async function replica(
  names: ReturnType<typeof deployment>,
  node: string,
  extra: Partial<JetStreamStoreOptions> = {},
): Promise<{ store: JetStreamStore; nc: NatsConnection }> {
  const nc = await connection();
  const store = await JetStreamStore.open({ nc, replicas: 1, node, ...names, ...extra });
  stores.push(store);
  return { store, nc };
}

function makeTask(name: string, overrides: Partial<Task> = {}): Task {
  return {
    ...emptyTaskSpec(name),
    schedule: { cron: '*/5 * * * *', timeZone: '' },
    action: { kind: 'natsPublish', subject: `jobs.${name}`, payload: new Uint8Array([1, 2, 255]), headers: { 'x-team': 'core' }, jetstream: false },
    pausedReason: '',
    createTime: T0,
    updateTime: T0,
    etag: 'etag-1',
    runCount: 0,
    consecutiveFailures: 0,
    createdBy: 'tester',
    updatedBy: 'tester',
    scheduleAnchor: T0,
    createRequestId: '',
    ...overrides,
  };
}

let executionCounter = 0;
function makeExecution(overrides: Partial<Execution> & { taskName: string; scheduledTime: number }): Execution {
  executionCounter += 1;
  return pendingExecution({ id: `exec-${String(executionCounter).padStart(6, '0')}`, node: 'node-a', ...overrides });
}

let eventCounter = 0;
function meta(time = T0): { id: string; time: number } {
  eventCounter += 1;
  return { id: `event-${eventCounter}-${Math.random().toString(36).slice(2)}`, time };
}

async function eventually<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 2_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function listAll(store: JetStreamStore, filter: TaskFilter, pageSize: number): Promise<string[]> {
  const names: string[] = [];
  let afterName = '';
  for (;;) {
    const page = await store.listTasks({ afterName, limit: pageSize, filter });
    names.push(...page.map((t) => t.name));
    if (page.length < pageSize) return names;
    afterName = page[page.length - 1]!.name;
  }
}

/** Subjects of the stream's messages, in order (for what was published). */
async function streamSubjects(nc: NatsConnection, stream: string): Promise<Array<{ seq: number; subject: string; headers: Record<string, string>; body: unknown }>> {
  const jsm = await jetstreamManager(nc);
  const last = (await jsm.streams.info(stream)).state.last_seq;
  const out = [];
  for (let seq = 1; seq <= last; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq });
    if (m === null) continue;
    const headers: Record<string, string> = {};
    for (const [k, v] of m.header ?? []) headers[k] = v[0]!;
    out.push({ seq, subject: m.subject, headers, body: m.json() });
  }
  return out;
}

describe('JetStreamStore: tasks', () => {
  test('create, get, count, all, duplicate; replace and delete check the etag', async () => {
    const names = deployment();
    const { store, nc } = await replica(names, 'a');
    assert.equal(await store.getTask('a'), undefined);
    await store.createTask(makeTask('b'));
    await store.createTask(makeTask('a', { description: 'first' }));
    assert.deepStrictEqual(await store.getTask('a'), makeTask('a', { description: 'first' }), 'reads its own write at once');
    await assert.rejects(store.createTask(makeTask('a', { description: 'again' })), TaskAlreadyExistsError);
    assert.equal((await store.getTask('a'))!.description, 'first');
    assert.equal(await store.countTasks(), 2);
    assert.deepEqual((await store.allTasks()).map((t) => t.name), ['a', 'b']);

    const updated = makeTask('a', { etag: 'e2', description: 'changed', state: 'PAUSED', labels: { env: 'prod' } });
    await store.replaceTask(updated, 'etag-1');
    assert.deepStrictEqual(await store.getTask('a'), updated);
    await assert.rejects(store.replaceTask(makeTask('a', { etag: 'e3' }), 'etag-1'), EtagMismatchError);
    assert.deepStrictEqual(await store.getTask('a'), updated, 'a stale replace writes nothing');
    await assert.rejects(store.replaceTask(makeTask('missing'), 'etag-1'), TaskNotFoundError);
    // a status write keeps the etag
    await store.replaceTask({ ...updated, runCount: 7 }, 'e2');
    assert.equal((await store.getTask('a'))!.runCount, 7);

    await assert.rejects(store.deleteTask('a', 'stale'), EtagMismatchError);
    await store.deleteTask('a', 'e2', T0 + 5);
    assert.equal(await store.getTask('a'), undefined);
    await assert.rejects(store.deleteTask('a'), TaskNotFoundError);
    await store.deleteTask('b', '');
    assert.equal(await store.countTasks(), 0);
    await store.createTask(makeTask('a', { description: 'reborn' }));
    assert.equal((await store.getTask('a'))!.description, 'reborn', 'a deleted name can be created again');

    // task events went to the stream, in the outbox publisher's format
    const published = (await streamSubjects(nc, names.streamName!)).map((m) => m.subject);
    const p = names.subjectPrefix;
    assert.deepEqual(published, [
      `${p}.tasks.b.created`,
      `${p}.tasks.a.created`,
      `${p}.tasks.a.paused`,
      `${p}.tasks.a.deleted`,
      `${p}.tasks.b.deleted`,
      `${p}.tasks.a.created`,
    ]);
    const first = (await streamSubjects(nc, names.streamName!))[0]!;
    assert.equal(first.headers['ce-type'], 'io.cronplane.task.created');
    assert.equal(first.headers['ce-source'], '/cronplane/a');
    assert.equal((first.body as { task: { name: string } }).task.name, 'b');
    assert.equal(await store.outboxSize(), 0);
    assert.deepEqual(await store.pendingTaskOutbox(), []);
  });

  test('listTasks pages in name order and filters by state, prefix and labels', async () => {
    const { store } = await replica(deployment(), 'a');
    const specs: Array<[string, Partial<Task>]> = [
      ['alpha', { labels: { env: 'prod', team: 'core' } }],
      ['alpha-2', { state: 'PAUSED', labels: { env: 'prod' } }],
      ['alpha_3', { labels: { env: 'dev', team: 'core' } }],
      ['alphabet', { labels: { 'a.b': 'dotted' } }],
      ['beta', { state: 'PAUSED', labels: { env: 'prod', team: 'core' } }],
      ['beta0', { labels: {} }],
      ['gamma', { labels: { env: 'prod' } }],
      ['zeta', { labels: { env: 'prod', team: 'edge' } }],
    ];
    await Promise.all([...specs].reverse().map(([name, overrides]) => store.createTask(makeTask(name, overrides))));
    const all = specs.map(([name]) => name);
    for (const size of [1, 2, 3, 100]) assert.deepEqual(await listAll(store, EMPTY_TASK_FILTER, size), all, `page ${size}`);
    assert.deepEqual((await store.listTasks({ afterName: 'beta', limit: 2, filter: EMPTY_TASK_FILTER })).map((t) => t.name), ['beta0', 'gamma']);
    assert.deepEqual(await store.listTasks({ afterName: '', limit: 0, filter: EMPTY_TASK_FILTER }), []);
    assert.deepEqual(await listAll(store, { state: 'PAUSED', labels: {} }, 1), ['alpha-2', 'beta']);
    assert.deepEqual(await listAll(store, { namePrefix: 'alpha', labels: {} }, 2), ['alpha', 'alpha-2', 'alpha_3', 'alphabet']);
    assert.deepEqual(await listAll(store, { namePrefix: 'alpha-', labels: {} }, 10), ['alpha-2']);
    assert.deepEqual(
      (await store.listTasks({ afterName: 'alpha-2', limit: 10, filter: { namePrefix: 'alpha', labels: {} } })).map((t) => t.name),
      ['alpha_3', 'alphabet'],
    );
    assert.deepEqual(await store.listTasks({ afterName: 'b', limit: 10, filter: { namePrefix: 'alpha', labels: {} } }), []);
    assert.deepEqual(await listAll(store, { labels: { env: 'prod', team: 'core' } }, 1), ['alpha', 'beta']);
    assert.deepEqual(await listAll(store, { labels: { 'a.b': 'dotted' } }, 10), ['alphabet']);
    assert.deepEqual(await listAll(store, { state: 'ENABLED', namePrefix: 'alpha', labels: { team: 'core' } }, 1), ['alpha', 'alpha_3']);
  });

  test('a second replica sees creates, updates and deletes within a second, and loads existing tasks at open', async () => {
    const names = deployment();
    const { store: a } = await replica(names, 'a');
    await a.createTask(makeTask('existing'));
    const { store: b } = await replica(names, 'b');
    assert.ok(await b.getTask('existing'), 'open() waits for the existing tasks');

    const seen: Array<[string, string | undefined]> = [];
    b.watchTasks((name, task) => seen.push([name, task?.etag]));
    const ownSeen: string[] = [];
    a.watchTasks((name) => ownSeen.push(name));

    const started = Date.now();
    await a.createTask(makeTask('x', { etag: 'v1' }));
    await eventually('create on b', async () => (await b.getTask('x')) ?? undefined, 1_000);
    await a.replaceTask(makeTask('x', { etag: 'v2', description: 'second' }), 'v1');
    await eventually('update on b', async () => ((await b.getTask('x'))?.etag === 'v2' ? true : undefined), 1_000);
    // b writes on top of a's change, with the etag it sees
    await b.replaceTask(makeTask('x', { etag: 'v3' }), 'v2');
    await assert.rejects(a.replaceTask(makeTask('x', { etag: 'v4' }), 'v2'), EtagMismatchError, 'a sees b\'s write as a conflict');
    await a.deleteTask('x', 'v3');
    await eventually('delete on b', async () => ((await b.getTask('x')) === undefined ? true : undefined), 1_000);
    assert.ok(Date.now() - started < 3_000);
    await eventually('all changes on b', () => (seen.length >= 4 ? true : undefined), 1_000);
    assert.deepEqual(seen, [['x', 'v1'], ['x', 'v2'], ['x', 'v3'], ['x', undefined]]);
    await eventually('own writes on a', () => (ownSeen.length >= 4 ? true : undefined), 1_000);
    assert.equal(await b.countTasks(), 1);
  });

  test('two replicas replacing at the same etag at once: exactly one wins, the other gets EtagMismatchError', async () => {
    const names = deployment();
    const { store: a } = await replica(names, 'a');
    const { store: b } = await replica(names, 'b');
    await a.createTask(makeTask('hot', { etag: 'e0' }));
    await eventually('task on b', async () => (await b.getTask('hot')) ?? undefined);
    // both replicas move the etag forward from what they read; exactly one of each pair wins
    let wins = 0;
    for (let i = 0; i < 20; i++) {
      const etag = (await a.getTask('hot'))!.etag;
      await eventually('b in sync', async () => ((await b.getTask('hot'))?.etag === etag ? true : undefined));
      const results = await Promise.allSettled([
        a.replaceTask(makeTask('hot', { etag: `a${i}` }), etag),
        b.replaceTask(makeTask('hot', { etag: `b${i}` }), etag),
      ]);
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, `round ${i}`);
      for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof EtagMismatchError);
      wins += 1;
      await eventually('a in sync', async () => ((await a.getTask('hot'))?.etag.endsWith(String(i)) ? true : undefined));
    }
    assert.equal(wins, 20);
  });
});

describe('JetStreamStore: executions', () => {
  test('two replicas race for the same occurrence 200 times: exactly one wins each time', async () => {
    const names = deployment();
    const { store: a } = await replica(names, 'a');
    const { store: b } = await replica(names, 'b');
    const winners = { a: 0, b: 0 };
    for (let i = 0; i < 200; i++) {
      const at = T0 + i * 1000;
      const [ra, rb] = await Promise.all([
        a.recordExecution(makeExecution({ taskName: 'race', scheduledTime: at, node: 'a' }), meta(), { claim: true }),
        b.recordExecution(makeExecution({ taskName: 'race', scheduledTime: at, node: 'b' }), meta(), { claim: true }),
      ]);
      assert.ok((ra === undefined) !== (rb === undefined), `occurrence ${i}: exactly one claim wins`);
      if (ra !== undefined) winners.a++;
      else winners.b++;
    }
    assert.equal(winners.a + winners.b, 200);
    // and the losers wrote nothing: 200 executions on either replica
    for (const store of [a, b]) {
      await eventually('all events in the view', async () => ((await store.eventsAfter(0, 1000)).length === 200 ? true : undefined));
      const page = await store.listExecutions({ taskName: 'race', states: [], limit: 1000, beforeKey: '' });
      assert.equal(page.executions.length, 200);
      assert.equal(await store.lastOccurrence('race'), T0 + 199_000);
    }
    // a claim of an occurrence that exists is refused on the same replica too
    assert.equal(await a.recordExecution(makeExecution({ taskName: 'race', scheduledTime: T0 }), meta(), { claim: true }), undefined);
  });

  test('events carry the stream sequence; reads come from the view, including the other replica\'s writes', async () => {
    const names = deployment();
    const { store: a, nc } = await replica(names, 'a');
    const { store: b } = await replica(names, 'b');
    const streamEvents: ExecutionEvent[] = [];
    b.watchExecutionEvents((event) => streamEvents.push(event));

    const pending = makeExecution({ taskName: 'job', scheduledTime: T0, node: 'a' });
    const e1 = await a.recordExecution(pending, meta(T0), { claim: true });
    assert.ok(e1);
    const running: Execution = {
      ...pending,
      state: 'RUNNING',
      startTime: T0 + 5,
      attempt: 1,
      attempts: [{ number: 1, startTime: T0 + 5, endTime: undefined, state: 'RUNNING', error: '' }],
    };
    const e2 = await a.recordExecution(running, meta(T0 + 5));
    const failed: Execution = {
      ...running,
      state: 'FAILED',
      endTime: T0 + 9,
      error: 'boom: "quoted" ünï',
      output: 'out',
      attempts: [{ number: 1, startTime: T0 + 5, endTime: T0 + 9, state: 'FAILED', error: 'boom' }],
    };
    const e3 = await a.recordExecution(failed, meta(T0 + 9));
    assert.ok(e2 && e3);
    assert.ok(e1.sequence < e2.sequence && e2.sequence < e3.sequence);
    assert.deepStrictEqual(e3.execution, failed);

    // the stream holds them at exactly those sequences, as the outbox publisher would publish them
    const messages = await streamSubjects(nc, names.streamName!);
    const bySeq = new Map(messages.map((m) => [m.seq, m]));
    const m3 = bySeq.get(e3.sequence)!;
    assert.equal(m3.subject, `${names.subjectPrefix}.executions.job.failed`);
    assert.equal(m3.headers['ce-type'], 'io.cronplane.execution.failed');
    assert.equal(m3.headers['ce-id'], e3.id);
    assert.equal(m3.headers['Nats-Msg-Id'], e3.id);
    assert.equal((m3.body as { execution: { state: string } }).execution.state, 'EXECUTION_STATE_FAILED');

    // a reads its own writes at once
    assert.deepStrictEqual(await a.getExecution(pending.id), failed);
    // b has them from the stream, decoded back from protobuf JSON to the same domain objects
    await eventually('b sees the failure', async () => ((await b.getExecution(pending.id))?.state === 'FAILED' ? true : undefined));
    assert.deepStrictEqual(await b.getExecution(pending.id), failed);
    assert.deepStrictEqual(await b.eventsAfter(0, 10), [e1, e2, e3]);
    assert.deepStrictEqual(await b.eventsAfter(e1.sequence, 1), [e2]);
    assert.equal(await b.lastOccurrence('job'), T0);
    assert.deepStrictEqual(await b.lastExecution('job'), failed);
    assert.deepEqual((await b.executionsInStates(['FAILED'])).map((e) => e.id), [pending.id]);
    assert.deepStrictEqual(streamEvents, [e1, e2, e3], 'b\'s listener got a\'s events in order');
    assert.equal(await b.lastSequence(), e3.sequence);

    // b writes too; a sees it; sequences are global
    const manual = makeExecution({ taskName: 'job', scheduledTime: T0 + 50, trigger: 'MANUAL', node: 'b' });
    const e4 = await b.recordExecution(manual, meta());
    assert.ok(e4 && e4.sequence > e3.sequence);
    await eventually('a sees b\'s run', async () => (await a.getExecution(manual.id)) ?? undefined);
    const page = await a.listExecutions({ taskName: 'job', states: [], limit: 10, beforeKey: '' });
    assert.deepEqual(page.executions.map((e) => e.id), [manual.id, pending.id]);
    assert.equal(await a.lastOccurrence('job'), T0, 'manual runs are not occurrences');

    // a final state is never left, from either replica
    for (const store of [a, b]) {
      assert.equal(await store.recordExecution({ ...failed, state: 'RETRYING' }, meta()), undefined);
      assert.equal(await store.recordExecution({ ...failed, state: 'SUCCEEDED' }, meta()), undefined);
    }
    // the replica that ended it may restate it (same state), the other may not
    assert.ok(await a.recordExecution({ ...failed, error: 'boom, with details' }, meta()));
    assert.equal(await b.recordExecution({ ...failed, error: 'b disagrees' }, meta()), undefined);
  });

  test('two survivors record LOST for the same execution at once: one event', async () => {
    const names = deployment();
    const { store: a, nc } = await replica(names, 'a');
    const { store: b } = await replica(names, 'b');
    const { store: owner } = await replica(names, 'dead');
    const executions: Execution[] = [];
    for (let i = 0; i < 10; i++) {
      const exec = makeExecution({ taskName: 'victim', scheduledTime: T0 + i, node: 'dead' });
      await owner.recordExecution(exec, meta(), { claim: true });
      const running = { ...exec, state: 'RUNNING' as const, startTime: T0 + i, attempt: 1 };
      await owner.recordExecution(running, meta());
      executions.push(running);
    }
    for (const store of [a, b]) {
      await eventually('running ones visible', async () => ((await store.executionsInStates(['RUNNING'])).length === 10 ? true : undefined));
    }
    const results = await Promise.all(
      executions.flatMap((exec) => [a, b].map((store) => store.recordExecution({ ...exec, state: 'LOST', error: 'lost' }, meta()))),
    );
    for (let i = 0; i < executions.length; i++) {
      const pair = results.slice(i * 2, i * 2 + 2);
      assert.equal(pair.filter((r) => r !== undefined).length, 1, `execution ${i}: one LOST`);
    }
    const lostMessages = (await streamSubjects(nc, names.streamName!)).filter((m) => m.subject.endsWith('.lost'));
    assert.equal(lostMessages.length, 10);
    // and the dead owner coming back cannot overwrite it, whether or not its view has the LOST yet
    assert.equal(await owner.recordExecution({ ...executions[0]!, state: 'SUCCEEDED' }, meta()), undefined);
    assert.equal(await owner.recordExecution({ ...executions[1]!, state: 'RETRYING' }, meta()), undefined);
    const third = makeExecution({ taskName: 'victim', scheduledTime: T0 + 100, node: 'dead' });
    await owner.recordExecution({ ...third, state: 'RUNNING' }, meta());
    await eventually('b has it', async () => (await b.getExecution(third.id)) ?? undefined);
    // b's LOST and the owner's RETRYING race; whichever the stream took first, all views agree
    const [bLost, ownerRetry] = await Promise.all([
      b.recordExecution({ ...third, state: 'LOST' }, meta()),
      owner.recordExecution({ ...third, state: 'RETRYING' }, meta()),
    ]);
    assert.ok(bLost, 'nobody else ended it');
    // the RETRYING counts only if the stream took it before the LOST; after it, it is refused
    if (ownerRetry !== undefined) assert.ok(ownerRetry.sequence < bLost.sequence);
    for (const store of [a, b, owner]) {
      await eventually('views agree', async () => ((await store.getExecution(third.id))?.state === 'LOST' ? true : undefined));
      const events: ExecutionEvent[] = (await store.eventsAfter(bLost.sequence - 10, 100)).filter((e) => e.execution.id === third.id);
      assert.equal(events.at(-1)!.execution.state, 'LOST');
    }
  });

  test('a reopened replica catches up from the stream; lastOccurrence survives the stream forgetting', async () => {
    const names = deployment();
    const first = await replica(names, 'a');
    const recorded: ExecutionEvent[] = [];
    for (let i = 0; i < 30; i++) {
      const exec = makeExecution({ taskName: `t${i % 3}`, scheduledTime: T0 + i * 1000 });
      recorded.push((await first.store.recordExecution(exec, meta(), { claim: true }))!);
      recorded.push((await first.store.recordExecution({ ...exec, state: 'SUCCEEDED', endTime: T0 + i * 1000 + 1 }, meta()))!);
    }
    await first.store.createTask(makeTask('t0'));
    await first.store.close();
    await assert.rejects(first.store.getExecution(recorded[0]!.execution.id), UnavailableError);

    const again = await replica(names, 'a');
    assert.deepStrictEqual(await again.store.eventsAfter(0, 1000), recorded);
    assert.equal(await again.store.lastSequence(), recorded.at(-1)!.sequence + 1, 'the task event counts as a sequence too');
    assert.equal(await again.store.lastOccurrence('t2'), T0 + 29_000);
    assert.equal((await again.store.executionsInStates(['PENDING'])).length, 0);
    assert.ok(await again.store.getTask('t0'));

    // same buckets, another stream (as after max_age): the progress bucket still knows
    const forgotten = await replica({ ...deployment(), bucketPrefix: names.bucketPrefix }, 'a');
    assert.deepEqual(await forgotten.store.eventsAfter(0, 10), []);
    assert.equal(await forgotten.store.lastOccurrence('t2'), T0 + 29_000);
    assert.equal(await forgotten.store.lastOccurrence('never'), undefined);
  });
  test('a retried final state (same execution, new event id) is stored once: ignored when an earlier try landed', async () => {
    const names = deployment();
    const { store: a, nc } = await replica(names, 'a');
    // The same replica name again: its final-state claims are a's, its read model is its own.
    const { store: again } = await replica(names, 'a');
    const exec = makeExecution({ taskName: 'job', scheduledTime: T0, node: 'a' });
    assert.ok(await a.recordExecution(exec, meta(), { claim: true }));
    const running: Execution = { ...exec, state: 'RUNNING', startTime: T0 + 1, attempt: 1, attempts: [{ number: 1, startTime: T0 + 1, endTime: undefined, state: 'RUNNING', error: '' }] };
    assert.ok(await a.recordExecution(running, meta()));
    const done: Execution = { ...running, state: 'SUCCEEDED', endTime: T0 + 2, attempts: [{ number: 1, startTime: T0 + 1, endTime: T0 + 2, state: 'SUCCEEDED', error: '' }] };
    assert.ok(await a.recordExecution(done, meta()));

    // The engine retrying a write it saw fail although it landed: nothing new, no error.
    assert.equal(await a.recordExecution(done, meta()), undefined, 'the read model has it: ignored');
    // Where the read model may not have it yet, the claim says "decided before" and the stream is asked.
    assert.equal(await again.recordExecution(done, meta()), undefined, 'found in the stream: ignored');
    assert.deepStrictEqual(await again.getExecution(exec.id), done);
    // Not a retry: another final state is refused; more detail in the same state is a restatement.
    assert.equal(await a.recordExecution({ ...done, state: 'FAILED', error: 'changed its mind' }, meta()), undefined);
    assert.ok(await a.recordExecution({ ...done, output: 'with the output' }, meta()));
    const finals = (await streamSubjects(nc, names.streamName!)).filter((m) => m.subject.endsWith('.succeeded'));
    assert.equal(finals.length, 2, 'the final state and its restatement, no repeat');
  });

  test('a replica whose stream consumer stopped: its writes still see everything before them, in order; the consumer comes back', async () => {
    const names = deployment();
    const { store: a } = await replica(names, 'a');
    const { store: b } = await replica(names, 'b');
    // As when the NATS node that hosted b's consumer dies and nats.js does not notice: no message, no error.
    await (b as unknown as { view: { stopConsumer(): Promise<void> } }).view.stopConsumer();

    const first = makeExecution({ taskName: 'job', scheduledTime: T0, node: 'a' });
    assert.ok(await a.recordExecution(first, meta(), { claim: true }));
    const second = makeExecution({ taskName: 'job', scheduledTime: T0 + 1_000, node: 'b' });
    const own = await b.recordExecution(second, meta(), { claim: true });
    assert.ok(own);
    // Read from the stream up to its own event, not applied out of turn: a's earlier write is there too.
    assert.deepEqual((await b.eventsAfter(0, 10)).map((e) => e.execution.id), [first.id, second.id]);

    // Without writes of its own, b gets a's next write once its watchdog has replaced the consumer.
    const third = makeExecution({ taskName: 'job', scheduledTime: T0 + 2_000, node: 'a' });
    assert.ok(await a.recordExecution(third, meta(), { claim: true }));
    await eventually('b sees a\'s later write', async () => (await b.getExecution(third.id)) ?? undefined, 10_000);
    assert.deepEqual((await b.eventsAfter(0, 10)).map((e) => e.execution.id), [first.id, second.id, third.id]);
  });
});

describe('JetStreamStore: membership', () => {
  test('replicas see each other; a crashed one is gone within ttl + 1 s, a stopped one at once', async () => {
    const names = deployment();
    const ttl = 1_500;
    const a = await replica(names, 'node-a', { membershipTtlMs: ttl });
    const b = await replica(names, 'node-b', { membershipTtlMs: ttl });
    assert.deepEqual(b.store.membership.liveNodes(), ['node-a', 'node-b']);
    await eventually('a sees b', () => (a.store.membership.isAlive('node-b') ? true : undefined));
    assert.deepEqual(a.store.membership.liveNodes(), ['node-a', 'node-b']);
    const changes: string[][] = [];
    a.store.membership.onChange((live) => changes.push(live));

    // b dies: its connection drops, nobody deletes its key
    const crashedAt = Date.now();
    await b.nc.close();
    await eventually('a notices b died', () => (a.store.membership.isAlive('node-b') ? undefined : true), ttl + 2_000);
    const noticedAfter = Date.now() - crashedAt;
    assert.ok(noticedAfter <= ttl + 1_000, `noticed after ${noticedAfter} ms`);
    assert.ok(noticedAfter >= ttl / 2, `not before its heartbeats could have lapsed (${noticedAfter} ms)`);
    assert.deepEqual(changes.at(-1), ['node-a']);
    assert.deepEqual(a.store.membership.liveNodes(), ['node-a']);

    // a clean stop deletes the key: noticed at once
    const c = await replica(names, 'node-c', { membershipTtlMs: ttl });
    await eventually('a sees c', () => (a.store.membership.isAlive('node-c') ? true : undefined));
    const stoppedAt = Date.now();
    await c.store.close();
    await eventually('a notices c left', () => (a.store.membership.isAlive('node-c') ? undefined : true), ttl);
    assert.ok(Date.now() - stoppedAt < ttl / 2, 'a delete marker is seen before the ttl');
    await b.store.close(); // after the crash: nothing left to reach, and no error either
  });
});

describe('JetStreamStore: NATS failures', () => {
  test('a NATS server restart: watches and the stream consumer resume, writes go on', async () => {
    const own = await JetStreamServer.startSingle();
    const local: JetStreamStore[] = [];
    try {
      const open = async (node: string) => {
        const nc = await connect({ servers: own.url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
        connections.push(nc);
        const store = await JetStreamStore.open({ nc, replicas: 1, node, ...deployment(), bucketPrefix: 'restart', subjectPrefix: 'restart', streamName: 'RESTART' });
        local.push(store);
        return store;
      };
      const a = await open('a');
      const b = await open('b');
      await a.createTask(makeTask('before'));
      await eventually('b has it', async () => (await b.getTask('before')) ?? undefined);

      await own.kill();
      await own.start();
      const changes: string[] = [];
      b.watchTasks((name) => changes.push(name));
      await eventually('a can write again', async () => {
        try {
          await a.createTask(makeTask('after'));
          return true;
        } catch {
          return undefined;
        }
      }, 10_000);
      await eventually('b sees the write after the restart', async () => (await b.getTask('after')) ?? undefined, 5_000);
      assert.deepEqual(changes, ['after']);
      const exec = makeExecution({ taskName: 'after', scheduledTime: T0 });
      const event = await a.recordExecution(exec, meta(), { claim: true });
      assert.ok(event);
      await eventually('b sees the execution', async () => (await b.getExecution(exec.id)) ?? undefined, 5_000);
      assert.equal(await b.recordExecution({ ...exec, id: 'other' }, meta(), { claim: true }), undefined);
    } finally {
      for (const store of local) await store.close();
      await own.destroy();
    }
  });

  test('NATS gone: a write rejects with UnavailableError within its deadline; the retried final state is stored once NATS is back', async () => {
    const own = await JetStreamServer.startSingle();
    let store: JetStreamStore | undefined;
    try {
      const nc = await connect({ servers: own.url, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
      connections.push(nc);
      const names = deployment();
      store = await JetStreamStore.open({ nc, replicas: 1, node: 'a', ...names, writeDeadlineMs: 1_500 });
      const exec = makeExecution({ taskName: 'job', scheduledTime: T0, node: 'a' });
      assert.ok(await store.recordExecution(exec, meta(), { claim: true }));
      const running: Execution = { ...exec, state: 'RUNNING', startTime: T0 + 1, attempt: 1 };
      assert.ok(await store.recordExecution(running, meta()));
      const done: Execution = { ...running, state: 'SUCCEEDED', endTime: T0 + 2 };

      await own.kill();
      const started = Date.now();
      await assert.rejects(store.recordExecution(done, meta()), UnavailableError);
      // the deadline, plus one guarded try that began just before it
      assert.ok(Date.now() - started < 1_500 + 2_500, `settled after ${Date.now() - started} ms`);

      await own.start();
      // What the engine does with a final state that did not get stored: the same again, new event id.
      // Accepted (an event) or ignored (an earlier try landed after all); never an error but UnavailableError.
      await eventually('the retried final state stored', async () => {
        try {
          await store!.recordExecution(done, meta());
          return true;
        } catch (err) {
          if (err instanceof UnavailableError) return undefined;
          throw err;
        }
      }, 15_000);
      assert.deepStrictEqual(await store.getExecution(exec.id), done);
      assert.equal(await store.recordExecution(done, meta()), undefined, 'a further retry: already stored');
      const finals = (await streamSubjects(nc, names.streamName!)).filter((m) => m.subject.endsWith('.succeeded'));
      assert.equal(finals.length, 1);
    } finally {
      await store?.close();
      await own.destroy();
    }
  });

  test('a 3-node cluster with R3 buckets and stream: one NATS node stopped, claims and reads go on', async () => {
    const cluster = await JetStreamCluster.start(3);
    const local: JetStreamStore[] = [];
    try {
      const open = async (node: string, serverIndex: number) => {
        const urls = [cluster.urls[serverIndex]!, ...cluster.urls.filter((_, i) => i !== serverIndex)];
        const nc = await connect({ servers: urls, reconnectTimeWait: 100, maxReconnectAttempts: -1 });
        connections.push(nc);
        await waitForJetStream(nc);
        const store = await JetStreamStore.open({ nc, replicas: 3, node, subjectPrefix: 'cl', streamName: 'CL', bucketPrefix: 'cl', log: testLog(node) });
        local.push(store);
        return store;
      };
      const a = await open('a', 0);
      const b = await open('b', 1);
      await a.createTask(makeTask('clustered'));
      const first = await a.recordExecution(makeExecution({ taskName: 'clustered', scheduledTime: T0 }), meta(), { claim: true });
      assert.ok(first);

      await cluster.servers[2]!.kill();
      for (let i = 1; i <= 10; i++) {
        const at = T0 + i * 1000;
        const results = await Promise.all(
          [a, b].map((store) => store.recordExecution(makeExecution({ taskName: 'clustered', scheduledTime: at }), meta(), { claim: true })),
        );
        assert.equal(results.filter((r) => r !== undefined).length, 1, `occurrence ${i}`);
      }
      // While the cluster elects new leaders a write may answer UNAVAILABLE, which a client
      // retries: it must go through within the outage, not at once.
      await eventually('b\'s update accepted', async () => {
        try {
          await b.replaceTask(makeTask('clustered', { etag: 'e2' }), 'etag-1');
          return true;
        } catch (err) {
          if (err instanceof UnavailableError) return undefined;
          // An earlier try that seemed to fail had landed.
          if (err instanceof EtagMismatchError && (await b.getTask('clustered'))?.etag === 'e2') return true;
          throw err;
        }
      }, 15_000);
      // a follower whose consumer lived on the dead node is restarted by its watchdog (~3 s)
      await eventually('a sees b\'s update', async () => ((await a.getTask('clustered'))?.etag === 'e2' ? true : undefined), 15_000);
      let seen: number[] = [];
      await eventually('b has every event', async () => {
        seen = (await b.eventsAfter(0, 100)).map((e) => e.sequence);
        return seen.length === 11 ? true : undefined;
      }, 15_000).catch((err: Error) => { throw new Error(`${err.message}: b has sequences ${JSON.stringify(seen)}`); });
      assert.equal(await b.lastOccurrence('clustered'), T0 + 10_000);
    } finally {
      for (const store of local) await store.close();
      await cluster.destroy();
    }
  });
});
