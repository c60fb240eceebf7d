import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Execution } from '../../src/domain/execution.js';
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
