import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eventually, ServiceHarness } from '../helpers/service-harness.js';

const encoder = new TextEncoder();

/** One sample's value from Prometheus text: `name{labels}` with every given label matching; undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[4]);
  }
  return undefined;
}

describe('/metrics, /healthz and /readyz of a running service', () => {
  let h: ServiceHarness;
  const get = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${h.service.httpPort}${path}`);
    return { status: res.status, text: await res.text() };
  };
  const scrape = async () => (await get('/metrics')).text;

  before(async () => {
    h = await new ServiceHarness().start();
  });
  after(() => h.close());

  test('health endpoints answer', async () => {
    assert.equal((await get('/healthz')).status, 200);
    const ready = await get('/readyz');
    assert.equal(ready.status, 200);
    assert.match(ready.text, /ready/);
    assert.equal((await get('/nope')).status, 404);
  });

  test('every metric is there, and the counters move as tasks run', async () => {
    await h.client.createTask({
      task: {
        name: 'tick',
        schedule: { cron: '* * * * * *' },
        action: { kind: { case: 'natsPublish', value: { subject: `${h.prefix}.tick` } } },
      },
    });
    await h.client.createTask({
      task: { name: 'idle', schedule: { cron: '0 0 1 1 *' }, action: { kind: { case: 'natsPublish', value: { subject: `${h.prefix}.idle` } } } },
    });
    await h.client.pauseTask({ name: 'idle' });
    await assert.rejects(h.client.getTask({ name: 'missing' }));

    const first = await eventually(async () => {
      const text = await scrape();
      return (sample(text, 'cronplane_executions_total', { state: 'SUCCEEDED' }) ?? 0) >= 2 ? text : undefined;
    }, 6_000, 'two succeeded executions in /metrics');

    const fires1 = sample(first, 'cronplane_fires_total', { trigger: 'SCHEDULE' })!;
    assert.ok(fires1 >= 2);
    assert.ok(sample(first, 'cronplane_fire_lateness_seconds_count')! >= 2);
    assert.notEqual(sample(first, 'cronplane_fire_lateness_seconds_bucket', { le: '0.1' }), undefined);
    assert.ok(sample(first, 'cronplane_execution_duration_seconds_count')! >= 2);
    assert.ok(sample(first, 'cronplane_attempt_duration_seconds_count', { state: 'SUCCEEDED' })! >= 2);
    assert.notEqual(sample(first, 'cronplane_outbox_events'), undefined);
    assert.equal(sample(first, 'cronplane_nats_connected'), 1);
    assert.equal(sample(first, 'cronplane_tasks', { state: 'ENABLED' }), 1);
    assert.equal(sample(first, 'cronplane_tasks', { state: 'PAUSED' }), 1);
    assert.equal(sample(first, 'cronplane_rpc_total', { method: 'CreateTask', code: 'OK' }), 2);
    assert.equal(sample(first, 'cronplane_rpc_total', { method: 'PauseTask', code: 'OK' }), 1);
    assert.equal(sample(first, 'cronplane_rpc_total', { method: 'GetTask', code: 'NOT_FOUND' }), 1);
    assert.equal(sample(first, 'cronplane_rpc_duration_seconds_count', { method: 'CreateTask' }), 2);
    assert.notEqual(sample(first, 'cronplane_rpc_duration_seconds_bucket', { method: 'CreateTask', le: '+Inf' }), undefined);
    assert.notEqual(sample(first, 'cronplane_process_resident_memory_bytes'), undefined);

    // A moment later the counters have moved on.
    const second = await eventually(async () => {
      const text = await scrape();
      return sample(text, 'cronplane_fires_total', { trigger: 'SCHEDULE' })! >= fires1 + 2 ? text : undefined;
    }, 5_000, 'more fires');
    assert.ok(sample(second, 'cronplane_executions_total', { state: 'SUCCEEDED' })! > sample(first, 'cronplane_executions_total', { state: 'SUCCEEDED' })!);
    // The store's file is written by its writer thread, which has been busy, more so since.
    const busy1 = sample(first, 'cronplane_store_writer_busy_seconds_total')!;
    assert.ok(busy1 > 0, `writer busy ${busy1} s`);
    assert.ok(sample(second, 'cronplane_store_writer_busy_seconds_total')! > busy1);
    // Its events went to NATS from the publisher thread.
    const published1 = sample(first, 'cronplane_events_publisher_busy_seconds_total')!;
    assert.ok(published1 > 0, `publisher busy ${published1} s`);
    assert.ok(sample(second, 'cronplane_events_publisher_busy_seconds_total')! > published1);

    await h.client.runTask({ name: 'idle' });
    await eventually(async () => ((sample(await scrape(), 'cronplane_fires_total', { trigger: 'MANUAL' }) ?? 0) === 1 ? true : undefined), 3_000, 'a manual fire');
    await h.client.deleteTask({ name: 'tick' });
  });

  test('skipped occurrences are counted in cronplane_executions_total{state="SKIPPED"}', async () => {
    const subject = `${h.prefix}.slow`;
    const sub = h.nc.subscribe(subject);
    void (async () => {
      for await (const m of sub) setTimeout(() => { try { m.respond(encoder.encode('ok')); } catch { /* closed */ } }, 2_500);
    })();
    await h.nc.flush();
    await h.client.createTask({
      task: { name: 'slow', schedule: { cron: '* * * * * *' }, action: { kind: { case: 'natsRequest', value: { subject } } }, attemptDeadline: { seconds: 10n } },
    });
    await eventually(async () => ((sample(await scrape(), 'cronplane_executions_total', { state: 'SKIPPED' }) ?? 0) >= 1 ? true : undefined), 6_000, 'a SKIPPED count');
    await h.client.deleteTask({ name: 'slow' });
    sub.unsubscribe();
  });
});
