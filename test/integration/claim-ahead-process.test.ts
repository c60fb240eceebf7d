import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { ExecutionState, type Execution } from '../../src/gen/cronplane/v1/execution_pb.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { ChildService } from '../helpers/child-service.js';
import { collect } from '../helpers/observe.js';
import { eventually, NATS_URL } from '../helpers/service-harness.js';

// A real `cronplane serve` (SQLite store) claims each occurrence 500 ms before its time (stored
// PENDING). These tests stop the process inside that window, at x.6 s before the occurrence
// at x+1 s: kill -9 must neither double nor silently drop it; SIGTERM must still run it.

const encoder = new TextEncoder();
const publishTask = (name: string, subject: string) => ({
  name,
  schedule: { cron: '* * * * * *' },
  action: { kind: { case: 'natsPublish' as const, value: { subject, payload: encoder.encode(`hello from ${name}`) } } },
});
const ms = (t: { seconds: bigint; nanos: number } | undefined): number => (t === undefined ? 0 : Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6));
const scheduledOf = (m: Msg): string => m.headers?.get('Cronplane-Scheduled-Time') ?? '';
const iso = (t: number) => new Date(t).toISOString();
const sleep = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t)));

/** Scheduled times published more than once. */
function doubled(messages: Msg[]): string[] {
  const counts = new Map<string, number>();
  for (const m of messages) counts.set(scheduledOf(m), (counts.get(scheduledOf(m)) ?? 0) + 1);
  return [...counts].filter(([, n]) => n > 1).map(([t, n]) => `${t} x${n}`);
}

/**
 * Wait until the service has logged the claim (PENDING) of its next occurrence K of `task`, then
 * until K - 400 ms (x.6 s); returns K. Retries on the next second if the claim came too late.
 */
async function insideClaimWindow(svc: ChildService, task: string): Promise<number> {
  for (;;) {
    const k = Math.floor(Date.now() / 1000) * 1000 + 1000;
    await svc.waitForLine((l) => l['task'] === task && l['state'] === 'PENDING' && l['scheduledTime'] === iso(k), 3_000, `the claim of ${iso(k)}`);
    await sleep(k - 400 - Date.now());
    if (Date.now() < k - 300) return k;
    await sleep(20);
  }
}

const children: ChildService[] = [];
function track(svc: ChildService): ChildService {
  children.push(svc);
  return svc;
}

describe('claim ahead in a real process: stopped inside the 500 ms window', () => {
  let nc: NatsConnection;
  before(async () => {
    nc = await connect({ servers: NATS_URL });
  });
  after(async () => {
    await Promise.allSettled(children.map((c) => c.dispose()));
    await nc.close();
  });

  test('SIGKILL at x.6 s, restarted: the claimed occurrence is run at its time or LOST, never doubled, never silently missing', async (t) => {
    const svc = track(new ChildService());
    await svc.start();
    const subject = `${svc.prefix}.jobs.pulse`;
    const messages = collect(nc, subject);
    await nc.flush();
    await svc.client.createTask({ task: publishTask('pulse', subject) });
    await eventually(() => (messages.length >= 2 ? true : undefined), 5_000, 'messages before the kill');

    const k = await insideClaimWindow(svc, 'pulse');
    assert.deepEqual(await svc.kill(), { code: null, signal: 'SIGKILL' });
    const killedAt = Date.now();
    assert.ok(killedAt < k, `killed ${k - killedAt} ms before the claimed occurrence`);

    await svc.start();
    const started = svc.lines.find((l) => l.msg === 'engine started');
    await eventually(() => (messages.some((m) => Date.parse(scheduledOf(m)) >= k + 3_000) ? true : undefined), 8_000, 'messages after the restart');
    await sleep(200); // let the last messages arrive

    assert.deepEqual(doubled(messages), [], 'no occurrence published twice');
    const history = (await svc.client.listExecutions({ taskName: 'pulse', pageSize: 1000 })).executions;
    const atK = history.filter((e) => ms(e.scheduledTime) === k);
    const story = (e: Execution) => `${ExecutionState[e.state]}, ${e.startTime === undefined ? 'never started' : `started ${ms(e.startTime) - k} ms after its time`}, error "${e.error}"`;
    assert.equal(atK.length, 1, `one execution for the claimed ${iso(k)}: ${atK.map(story).join('; ')}`);
    const claimed = atK[0]!;
    const published = messages.filter((m) => scheduledOf(m) === iso(k)).length;
    t.diagnostic(`killed ${k - killedAt} ms before ${iso(k)}; after the restart: ${story(claimed)}`);
    if (claimed.state === ExecutionState.LOST) {
      assert.match(claimed.error, /stopped while it was pending/, story(claimed));
      assert.equal(published, 0, 'LOST here means it never started: the kill came before its time');
      assert.ok(Number(started?.['lost']) >= 1, `engine started line: ${JSON.stringify(started)}`);
    } else {
      assert.equal(claimed.state, ExecutionState.SUCCEEDED, story(claimed));
      assert.ok(Math.abs(ms(claimed.startTime) - k) < 100, `adopted after a fast restart, run at its time: ${story(claimed)}`);
      assert.equal(published, 1);
    }

    // Every second from the first occurrence to the last has exactly one execution, downtime included.
    const scheduled = history.map((e) => ms(e.scheduledTime)).sort((a, b) => a - b);
    const expected = Array.from({ length: (scheduled[scheduled.length - 1]! - scheduled[0]!) / 1000 + 1 }, (_, i) => scheduled[0]! + i * 1000);
    assert.deepEqual(scheduled, expected, 'no occurrence dropped or doubled across the kill');
    // What was published is exactly what the history says ran (the last two seconds may still be running).
    const cutoff = scheduled[scheduled.length - 1]! - 2_000;
    const ran = history.filter((e) => e.state === ExecutionState.SUCCEEDED && ms(e.scheduledTime) <= cutoff).map((e) => iso(ms(e.scheduledTime))).sort();
    const sent = [...new Set(messages.map(scheduledOf))].filter((t) => Date.parse(t) >= scheduled[0]! && Date.parse(t) <= cutoff).sort();
    assert.deepEqual(sent, ran, 'one message per SUCCEEDED execution');

    assert.deepEqual(await svc.stop('SIGTERM'), { code: 0, signal: null });
  });

  test('SIGTERM at x.6 s: the claimed occurrence runs at its time during the graceful stop, exit 0', async (t) => {
    const svc = track(new ChildService());
    await svc.start();
    const subject = `${svc.prefix}.jobs.term`;
    const messages = collect(nc, subject);
    await nc.flush();
    await svc.client.createTask({ task: publishTask('term', subject) });
    await eventually(() => (messages.length >= 2 ? true : undefined), 5_000, 'messages before the stop');

    const k = await insideClaimWindow(svc, 'term');
    const termAt = Date.now();
    const exit = await svc.stop('SIGTERM');
    assert.deepEqual(exit, { code: 0, signal: null }, `stderr: ${svc.run.stderr}`);
    assert.ok(termAt < k, `SIGTERM ${k - termAt} ms before the claimed occurrence`);
    const stopped = svc.lines.find((l) => l.msg === 'stopped');
    t.diagnostic(`SIGTERM ${k - termAt} ms before ${iso(k)}; stopped ${Date.parse(String(stopped?.time)) - k} ms after it`);
    assert.ok(svc.lines.some((l) => l.msg === 'stopped'), 'a stopped line');
    const shutdown = svc.lines.slice(svc.lines.findIndex((l) => l.msg === 'signal received'));
    assert.deepEqual(shutdown.filter((l) => l.level === 'warn' || l.level === 'error').map((l) => JSON.stringify(l)), []);

    await eventually(() => (messages.some((m) => scheduledOf(m) === iso(k)) ? true : undefined), 2_000, `the message of ${iso(k)}`);
    await sleep(200);
    assert.deepEqual(doubled(messages), [], 'no occurrence published twice');

    const store = SqliteStore.open(join(svc.dir, 'cronplane.db'));
    try {
      const { executions } = await store.listExecutions({ taskName: 'term', states: [], limit: 1000, beforeKey: '' });
      const atK = executions.filter((e) => e.scheduledTime === k);
      assert.deepEqual(atK.map((e) => [e.state, e.error]), [['SUCCEEDED', '']], `the claimed ${iso(k)}`);
      assert.ok(Math.abs(atK[0]!.startTime! - k) < 100, `started ${atK[0]!.startTime! - k} ms after its time`);
      assert.deepEqual(executions.filter((e) => !['SUCCEEDED', 'CANCELLED'].includes(e.state)).map((e) => `${iso(e.scheduledTime)} ${e.state}`), [],
        'nothing left PENDING or RUNNING by a graceful stop');
    } finally {
      await store.close();
    }
  });
});
