import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Worker } from 'node:worker_threads';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/config.js';
import type { Execution } from '../../src/domain/execution.js';
import { startService } from '../../src/main.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { PublishSettings } from '../../src/store/sqlite/publisher-wire.js';
import { freePort } from '../helpers/child-service.js';
import { pendingExecution } from '../helpers/executions.js';
import { connectWhenUp, NatsServerProcess } from '../helpers/nats-server.js';

/**
 * The store publishes its outboxes from a thread of their own (SqliteStoreOptions.publishEvents),
 * fed by the writer thread: real nats-server processes, real files, the event loop only records.
 */
const T0 = Date.UTC(2025, 0, 1, 0, 0, 0);
const PREFIX = 'pubthread';

function execution(i: number, state: Execution['state'] = 'PENDING'): Execution {
  return { ...pendingExecution({ id: `exec-${i}`, taskName: `task-${i % 7}`, scheduledTime: T0 + i * 1000 }), state };
}

function settings(url: string, drainMs = 5_000): PublishSettings {
  return { nats: { servers: [url], name: 'publisher-thread-test' }, subjectPrefix: PREFIX, source: '/cronplane/test', logLevel: 'info', drainMs };
}

/** Every message body's `sequence` and `id` on `${PREFIX}.executions.>`, in arrival order. */
function collect(nc: NatsConnection): { sub: Subscription; got: Array<{ subject: string; sequence: number; id: string; ceId: string | undefined }> } {
  const got: Array<{ subject: string; sequence: number; id: string; ceId: string | undefined }> = [];
  const sub = nc.subscribe(`${PREFIX}.executions.>`, {
    callback: (_err, msg) => {
      const body = msg.json<{ sequence: string; id: string }>();
      got.push({ subject: msg.subject, sequence: Number(body.sequence), id: body.id, ceId: msg.headers?.get('ce-id') });
    },
  });
  return { sub, got };
}

async function eventually(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('the publisher thread publishes what the writer thread commits, in sequence order, and acks it off the outbox', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cronplane-publisher-thread-'));
  const server = await NatsServerProcess.start(await freePort());
  const nc = await connectWhenUp(server.url);
  const lines: string[] = [];
  const store = SqliteStore.open(join(dir, 'cronplane.db'), { publishEvents: settings(server.url), onPublisherLog: (line) => lines.push(line) });
  try {
    assert.equal(store.publishesEvents, true);
    const { got } = collect(nc);
    await nc.flush();
    const busyBefore = store.publisherBusySeconds() ?? 0;
    const writes: Array<Promise<unknown>> = [];
    for (let i = 0; i < 2000; i++) writes.push(store.recordExecution(execution(i), { id: `ev-${i}`, time: T0 + i }, { claim: true }));
    // A start and its end in one write: two events, consecutive sequences.
    writes.push(store.recordTwoChanges(
      { execution: execution(5000, 'RUNNING'), event: { id: 'ev-run', time: T0 } },
      { execution: execution(5000, 'SUCCEEDED'), event: { id: 'ev-end', time: T0 + 1 } },
    ));
    await Promise.all(writes);
    await eventually(() => got.length >= 2002, 10_000, '2,002 events on NATS');
    assert.deepEqual(got.map((g) => g.sequence), Array.from({ length: 2002 }, (_, i) => i + 1), 'each once, in sequence order');
    assert.deepEqual(got.slice(-2).map((g) => [g.id, g.subject]), [['ev-run', `${PREFIX}.executions.task-2.running`], ['ev-end', `${PREFIX}.executions.task-2.succeeded`]]);
    assert.equal(got[0]!.ceId, 'ev-0', 'CloudEvents headers');
    // The acks reach the event loop's counts without a write of its own.
    await eventually(async () => (await store.outboxSize()) === 0, 5_000, 'the outbox acked');
    assert.ok(lines.some((l) => /"msg":"nats connected"/.test(l)), `the thread's log lines reach the store's owner: ${lines.join('')}`);
    assert.ok((store.publisherBusySeconds() ?? 0) > busyBefore, 'the publishing happened on the publisher thread');
  } finally {
    await store.close();
    await nc.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('with NATS away the events wait in the file; recorded before a restart or after, they all go out once NATS is back, in order', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cronplane-publisher-thread-'));
  const file = join(dir, 'cronplane.db');
  const port = await freePort();
  const url = `nats://127.0.0.1:${port}`;
  let server: NatsServerProcess | undefined;
  let nc: NatsConnection | undefined;
  try {
    // A first life without NATS: 300 events, then a close that cannot drain (short drain time).
    const first = SqliteStore.open(file, { publishEvents: settings(url, 200) });
    for (let i = 0; i < 300; i++) await first.recordExecution(execution(i), { id: `ev-${i}`, time: T0 + i }, { claim: true });
    assert.equal(await first.outboxSize(), 300, 'nothing acked without NATS');
    await first.close();

    // The second life records more before NATS comes: these are kept in memory, the first ones are read from the file.
    const lines: string[] = [];
    const second = SqliteStore.open(file, { publishEvents: settings(url), onPublisherLog: (line) => lines.push(line) });
    try {
      for (let i = 300; i < 600; i++) await second.recordExecution(execution(i), { id: `ev-${i}`, time: T0 + i }, { claim: true });
      await eventually(() => lines.some((l) => /nats not reachable/.test(l)), 5_000, "the thread's 'nats not reachable' line");
      assert.equal(await second.outboxSize(), 600);

      server = await NatsServerProcess.start(port);
      nc = await connectWhenUp(server.url);
      const { got } = collect(nc);
      await nc.flush();
      // The thread retries with backoff (up to 10 s); the test's subscription is in place first.
      await eventually(async () => (await second.outboxSize()) === 0, 20_000, 'the outbox drained');
      await nc.flush();
      const ids = got.map((g) => g.id);
      assert.equal(new Set(ids).size, ids.length, 'none twice');
      assert.deepEqual(got.map((g) => g.sequence), Array.from({ length: 600 }, (_, i) => i + 1), 'from the file, then from memory, in order');
    } finally {
      await second.close();
    }
  } finally {
    await nc?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('closing the store publishes what is still in the outbox before the thread exits', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cronplane-publisher-thread-'));
  const file = join(dir, 'cronplane.db');
  const server = await NatsServerProcess.start(await freePort());
  const nc = await connectWhenUp(server.url);
  try {
    // Recorded with no publisher: 5,000 events wait in the file.
    const recording = SqliteStore.open(file);
    const writes: Array<Promise<unknown>> = [];
    for (let i = 0; i < 5000; i++) writes.push(recording.recordExecution(execution(i), { id: `ev-${i}`, time: T0 + i }, { claim: true }));
    await Promise.all(writes);
    await recording.close();

    const { got } = collect(nc);
    await nc.flush();
    // Closed as soon as it opened: its thread has not even connected yet, so every event goes
    // out during the close (or the close is broken).
    const store = SqliteStore.open(file, { publishEvents: settings(server.url) });
    assert.equal(await store.outboxSize(), 5000);
    await store.close();
    await nc.flush();
    assert.equal(got.length, 5000, 'every waiting event reached NATS before close returned');
    assert.deepEqual(got.map((g) => g.sequence), Array.from({ length: 5000 }, (_, i) => i + 1), 'in order');
    const reopened = SqliteStore.open(file);
    try {
      assert.equal(await reopened.outboxSize(), 0, 'and was acked in the file');
    } finally {
      await reopened.close();
    }
  } finally {
    await nc.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a close right after a write drains what that write commits too, though the close may reach the publisher thread before its events do', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cronplane-publisher-thread-'));
  const server = await NatsServerProcess.start(await freePort());
  const nc = await connectWhenUp(server.url);
  try {
    const { got } = collect(nc);
    await nc.flush();
    // The second write of each round is still queued when the close begins (the thread's
    // connection is up by then); the writer posts its events to the publisher thread after its
    // reply to the event loop, on another port than the close.
    const ids: string[] = [];
    for (let round = 0; round < 20; round++) {
      const store = SqliteStore.open(join(dir, `round-${round}.db`), { publishEvents: settings(server.url) });
      await store.recordExecution(execution(2 * round), { id: `ev-${2 * round}`, time: T0 }, { claim: true });
      ids.push(`ev-${2 * round}`);
      await eventually(() => got.length === ids.length, 5_000, `round ${round}: the first event`);
      const written = store.recordExecution(execution(2 * round + 1), { id: `ev-${2 * round + 1}`, time: T0 }, { claim: true });
      await store.close();
      await written;
      ids.push(`ev-${2 * round + 1}`);
      await nc.flush();
      assert.deepEqual(got.map((g) => g.id), ids, `round ${round}: the event of the write made as the close began went out before close returned`);
    }
  } finally {
    await nc.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * Failure injection, as a crash inside a thread would end it: the store's threads reached
 * through its private fields (SqliteStore.writes is the WriterThread, which holds the
 * PublisherThread; each holds its Worker).
 */
interface Threads {
  writer: Worker;
  publisher: Worker;
}

function threadsOf(store: SqliteStore): Threads {
  const writes = (store as unknown as { writes: { worker: Worker; publisher: { worker: Worker } } }).writes;
  return { writer: writes.worker, publisher: writes.publisher.worker };
}

/** Resolve with how a worker exits: 0 once it ended by itself, 1 when it was terminated. */
function exitCode(worker: Worker): Promise<number> {
  return new Promise((resolve) => worker.once('exit', resolve));
}

/** Reject when `promise` has not settled within `ms`: a hang fails the test instead of stalling it. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms); });
  try {
    return await Promise.race([promise, hung]);
  } finally {
    clearTimeout(timer);
  }
}

const hasLine = (lines: string[], pattern: RegExp) => lines.some((l) => pattern.test(l));

test('if the publisher thread dies, the store is unhealthy and says so once, writes go on into the outbox, close does not hang, and a restart publishes them all once, in order', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cronplane-publisher-thread-'));
  const file = join(dir, 'cronplane.db');
  const server = await NatsServerProcess.start(await freePort());
  const nc = await connectWhenUp(server.url);
  try {
    const { got } = collect(nc);
    await nc.flush();
    const errors: string[] = [];
    const store = SqliteStore.open(file, { publishEvents: settings(server.url, 2_000), onPublisherError: (message) => errors.push(message) });
    try {
      for (let i = 0; i < 100; i++) await store.recordExecution(execution(i), { id: `ev-${i}`, time: T0 + i }, { claim: true });
      // All acked, so nothing is in flight (published, not acked) when the thread dies.
      await eventually(async () => (await store.outboxSize()) === 0, 10_000, 'the first 100 events acked');
      assert.equal(store.healthy(), true);

      await threadsOf(store).publisher.terminate();
      assert.equal(store.healthy(), false, 'events can no longer reach NATS: not healthy');
      assert.equal(errors.length, 1, `told once: ${errors.join(' | ')}`);
      assert.match(errors[0]!, /the events publisher thread exited \(code \d+\); events wait in the outbox until a restart/);

      const writes: Array<Promise<unknown>> = [];
      for (let i = 100; i < 250; i++) writes.push(store.recordExecution(execution(i), { id: `ev-${i}`, time: T0 + i }, { claim: true }));
      const recorded = (await Promise.all(writes)) as Array<{ sequence: number } | undefined>;
      assert.deepEqual(recorded.map((e) => e?.sequence), Array.from({ length: 150 }, (_, i) => 101 + i), 'writes keep committing');
      assert.equal(await store.outboxSize(), 150, 'their events wait in the outbox');
      assert.equal((await store.getExecution('exec-249'))?.state, 'PENDING');
    } finally {
      await within(store.close(), 10_000, 'closing a store whose publisher thread died');
    }
    assert.equal(errors.length, 1, `not told again at close: ${errors.join(' | ')}`);
    await nc.flush();
    assert.deepEqual(got.map((g) => g.sequence), Array.from({ length: 100 }, (_, i) => i + 1), 'only what was recorded before the death went out');

    const reopened = SqliteStore.open(file, { publishEvents: settings(server.url), onPublisherError: (message) => errors.push(message) });
    try {
      assert.equal(reopened.healthy(), true, 'a new open has a new publisher thread');
      assert.equal(await reopened.outboxSize(), 150);
      await eventually(async () => (await reopened.outboxSize()) === 0, 20_000, 'the waiting events published and acked');
      await nc.flush();
      assert.deepEqual(got.map((g) => g.sequence), Array.from({ length: 250 }, (_, i) => i + 1), 'every event once, in sequence order');
      assert.deepEqual(got.slice(100).map((g) => g.id), Array.from({ length: 150 }, (_, i) => `ev-${100 + i}`));
    } finally {
      await reopened.close();
    }
    assert.equal(errors.length, 1, 'the second life reported nothing');
  } finally {
    await nc.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('if the writer thread dies while the publisher thread runs, its acks fail at once, close does not hang, the thread ends by itself, and what was acked is not sent again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cronplane-publisher-thread-'));
  const file = join(dir, 'cronplane.db');
  const port = await freePort();
  let server = await NatsServerProcess.start(port);
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  let nc: NatsConnection | undefined;
  try {
    const lines: string[] = [];
    const writerErrors: string[] = [];
    const publisherErrors: string[] = [];
    const drainMs = 1_000;
    const store = SqliteStore.open(file, {
      publishEvents: settings(server.url, drainMs),
      onPublisherLog: (line) => lines.push(line),
      onWriterError: (message) => writerErrors.push(message),
      onPublisherError: (message) => publisherErrors.push(message),
    });
    const threads = threadsOf(store);
    const publisherExit = exitCode(threads.publisher);
    try {
      // 50 events published and acked while all is well.
      for (let i = 0; i < 50; i++) await store.recordExecution(execution(i), { id: `ev-${i}`, time: T0 + i }, { claim: true });
      await eventually(async () => (await store.outboxSize()) === 0, 10_000, 'the first 50 events acked');

      // 50 more wait in the outbox while NATS is away; then the writer dies (idle: a thread ended
      // inside a better-sqlite3 call can abort the process).
      await server.stop();
      await eventually(() => hasLine(lines, /"msg":"nats disconnected"/), 10_000, "the thread's 'nats disconnected' line");
      for (let i = 50; i < 100; i++) await store.recordExecution(execution(i), { id: `ev-${i}`, time: T0 + i }, { claim: true });
      assert.equal(await store.outboxSize(), 50);
      await threads.writer.terminate();
      assert.equal(store.healthy(), false);
      assert.equal(writerErrors.length, 1, writerErrors.join(' | '));
      assert.match(writerErrors[0]!, /^sqlite writer thread exited \(code \d+\)$/);

      // NATS comes back: the thread publishes the 50 and its ack fails at once (nothing can take it).
      server = await NatsServerProcess.start(port);
      await eventually(() => hasLine(lines, /"err":"the writer thread is gone".*"msg":"event publish failed; will retry"/), 20_000, 'an ack refused for want of a writer thread');
    } finally {
      // Had the acks waited for an answer, the thread would hang in its drain and be terminated at drainMs + 3 s.
      await within(store.close(), drainMs + 3_000 + 15_000, 'closing a store whose writer thread died');
    }
    await publisherExit;
    // A thread terminated as stuck at close is reported through the same hook.
    assert.deepEqual(publisherErrors, [], 'the publisher thread ended by itself: it did not fail and was not terminated as stuck');
    assert.equal(writerErrors.length, 1, 'the writer death was told once');

    // A restart publishes the 50 that were never acked, and none of the 50 that were.
    nc = await connectWhenUp(server.url);
    const { got } = collect(nc);
    await nc.flush();
    const reopened = SqliteStore.open(file, { publishEvents: settings(server.url) });
    try {
      assert.equal(await reopened.outboxSize(), 50);
      await eventually(async () => (await reopened.outboxSize()) === 0, 20_000, 'the unacked events published and acked');
      await nc.flush();
      assert.deepEqual(got.map((g) => g.sequence), Array.from({ length: 50 }, (_, i) => 51 + i), 'only the unacked ones, once, in order');
    } finally {
      await reopened.close();
    }
    assert.deepEqual(unhandled, [], 'no unhandled rejection');
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await nc?.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('in a running service, a dead publisher thread turns /readyz to 503 and is logged once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cronplane-publisher-thread-'));
  const server = await NatsServerProcess.start(await freePort());
  const lines: string[] = [];
  const config = loadConfig([], {
    CRONPLANE_GRPC_ADDR: '127.0.0.1:0',
    CRONPLANE_HTTP_ADDR: '127.0.0.1:0',
    CRONPLANE_STORE: `sqlite:${join(dir, 'cronplane.db')}`,
    CRONPLANE_NATS_URL: server.url,
    CRONPLANE_SUBJECT_PREFIX: PREFIX,
    CRONPLANE_NODE_NAME: 'publisher-thread-test',
    CRONPLANE_SHUTDOWN_GRACE: '1s',
  });
  const service = await startService(config, { log: pino({ level: 'info' }, { write: (line: string) => lines.push(line) }) });
  const readyz = async () => (await fetch(`http://127.0.0.1:${service.httpPort}/readyz`)).status;
  const failures = () => lines.filter((l) => /"msg":"events publisher failed"/.test(l));
  try {
    assert.equal(await readyz(), 200);
    // The engine's store is the service's SqliteStore (a private field).
    const store = (service.engine as unknown as { store: SqliteStore }).store;
    assert.equal(store.publishesEvents, true, 'a file store publishes from its own thread');
    await threadsOf(store).publisher.terminate();
    assert.equal(await readyz(), 503);
    assert.equal(failures().length, 1, lines.join(''));
    assert.match(failures()[0]!, /"component":"outbox".*"err":"the events publisher thread exited \(code \d+\); events wait in the outbox until a restart"/);
  } finally {
    await within(service.stop(), 30_000, 'stopping the service');
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(failures().length, 1, 'not logged again at stop');
  assert.ok(hasLine(lines, /"msg":"stopped"/), 'the service stopped');
});
