import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { ACTIONS_PENDING_LIMIT_BYTES, EVENTS_PENDING_LIMIT_BYTES, NatsConnectionManager } from '../../src/events/nats-connection.js';
import { NATS_URL } from '../helpers/service-harness.js';

// When nats.js writes what a burst of publishes queued: the actions' connection while the burst
// is still being published (the first messages of a second leave at once), the events
// publisher's at the end of the burst's microtask, in one write (fewer syscalls per event).

const dir = mkdtempSync(join(tmpdir(), 'cronplane-nats-writes-'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** About 300 bytes a message, as an action's publish with its run headers is. */
const PAYLOAD = new Uint8Array(256).fill(120);
const MESSAGES = 400;

/**
 * A subscriber in a process of its own, so it receives while this process is still inside one
 * synchronous burst; after each message it replaces `file` with its count (a rename: a reader
 * never sees the file empty). It exits when this process goes (its stdin closes).
 */
async function countingSubscriber(subject: string, file: string): Promise<void> {
  const script = `
    import { renameSync, writeFileSync } from 'node:fs';
    const { connect } = await import(${JSON.stringify(import.meta.resolve('@nats-io/transport-node'))});
    const nc = await connect({ servers: ${JSON.stringify(NATS_URL)} });
    let n = 0;
    nc.subscribe(${JSON.stringify(subject)}, { callback: () => {
      writeFileSync(${JSON.stringify(`${file}.tmp`)}, String(++n));
      renameSync(${JSON.stringify(`${file}.tmp`)}, ${JSON.stringify(file)});
    } });
    await nc.flush();
    process.stdin.on('end', () => process.exit(0)).resume();
    process.stdout.write('ready\\n');`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('ready')) resolve(); });
    child.once('exit', (code) => reject(new Error(`subscriber exited (${code})`)));
  });
}

function received(file: string): number {
  return existsSync(file) ? Number(readFileSync(file, 'utf8') || 0) : 0;
}

/** Blocks this thread (no microtask, no I/O callback runs) until `done` or `ms` pass. */
function blockUntil(done: () => boolean, ms: number): void {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) Atomics.wait(cell, 0, 0, 5);
}

async function connected(pendingLimitBytes?: number): Promise<{ nc: NatsConnection; close: () => Promise<void> }> {
  const manager = new NatsConnectionManager({ servers: [NATS_URL], name: 'cronplane-test-writes' }, pino({ level: 'silent' }), pendingLimitBytes);
  manager.start();
  await manager.firstAttemptSettled(5_000);
  const nc = manager.current();
  assert.ok(nc !== undefined, `connected to ${NATS_URL}`);
  return { nc, close: () => manager.close() };
}

describe('when a burst of publishes reaches the socket', () => {
  test('the actions\' connection (the default): while the burst is still being published', async () => {
    assert.ok(MESSAGES * 300 > 2 * ACTIONS_PENDING_LIMIT_BYTES, 'the burst is several of the limit');
    const subject = `cronplane.test.writes.actions.${process.pid}`;
    const file = join(dir, 'actions');
    await countingSubscriber(subject, file);
    const { nc, close } = await connected();
    try {
      for (let i = 0; i < MESSAGES; i++) nc.publish(subject, PAYLOAD);
      // Still the burst's synchronous turn: only what nats.js wrote inline can have arrived.
      let during = 0;
      blockUntil(() => (during = received(file)) > 0, 5_000);
      assert.ok(during > 0 && during < MESSAGES, `the first messages arrived before the burst's turn ended (${during} of ${MESSAGES})`);
      await nc.flush();
      blockUntil(() => received(file) === MESSAGES, 5_000);
      assert.equal(received(file), MESSAGES);
    } finally {
      await close();
    }
  });

  test('the events publisher\'s connection: in one write when the burst\'s turn ends', async () => {
    assert.ok(MESSAGES * 300 < EVENTS_PENDING_LIMIT_BYTES, 'the burst is under the limit');
    const subject = `cronplane.test.writes.events.${process.pid}`;
    const file = join(dir, 'events');
    await countingSubscriber(subject, file);
    const { nc, close } = await connected(EVENTS_PENDING_LIMIT_BYTES);
    try {
      for (let i = 0; i < MESSAGES; i++) nc.publish(subject, PAYLOAD);
      let during = 0;
      blockUntil(() => (during = received(file)) > 0, 300);
      assert.equal(during, 0, 'nothing left during the turn');
      await nc.flush();
      blockUntil(() => received(file) === MESSAGES, 5_000);
      assert.equal(received(file), MESSAGES, 'all of it after the turn');
    } finally {
      await close();
    }
  });
});
