import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { emptyTaskSpec, NO_ENTRIES, SharedTaskParts, type ActionSpec, type Task } from '../../src/domain/task.js';

function task(name: string, patch: Partial<Task> = {}, action?: ActionSpec): Task {
  return {
    ...emptyTaskSpec(name),
    schedule: { cron: '0 * * * *', timeZone: 'Europe/Berlin' },
    action: action ?? { kind: 'natsPublish', subject: 'jobs.run', payload: new TextEncoder().encode('{"x":1}'), headers: {}, jetstream: false },
    labels: { team: 't1', env: 'prod' },
    pausedReason: '',
    createTime: 1_800_000_000_000,
    updateTime: 1_800_000_000_000,
    etag: `etag-${name}`,
    runCount: 0,
    consecutiveFailures: 0,
    createdBy: '',
    updatedBy: '',
    scheduleAnchor: 1_800_000_000_000,
    createRequestId: '',
    ...patch,
  };
}

describe('SharedTaskParts', () => {
  test('a shared task equals the task, field by field', () => {
    const pool = new SharedTaskParts();
    for (const t of [
      task('a'),
      task('b', { labels: {}, retryPolicy: { maxAttempts: 3, initialBackoffMs: 10, maxBackoffMs: 100, multiplier: 1.5, jitter: 0.2 } }),
      task('c', {}, { kind: 'natsRequest', subject: 'svc.req', payload: new Uint8Array(), headers: { 'X-Trace': '1' } }),
      task('d', {}, { kind: 'http', url: 'https://example.com/hook', method: 'POST', headers: {}, body: new Uint8Array(5000), successCodes: [200, 204] }),
    ]) {
      assert.deepStrictEqual(pool.share(t), t);
    }
  });

  test('equal parts of different tasks are one frozen object; the per-task fields stay their own', () => {
    const pool = new SharedTaskParts();
    const one = pool.share(task('one'));
    const two = pool.share(task('two', { labels: { team: 't1', env: 'prod' } }));
    assert.equal(one.schedule, two.schedule);
    assert.equal(one.labels, two.labels);
    assert.equal(one.retryPolicy, two.retryPolicy);
    assert.equal(one.action.kind === 'natsPublish' && two.action.kind === 'natsPublish' && one.action.payload === two.action.payload, true);
    assert.notEqual(one.action, two.action);
    assert.equal(two.etag, 'etag-two');
    for (const part of [one.schedule, one.labels, one.retryPolicy]) assert.ok(Object.isFrozen(part));
    assert.throws(() => { (one.labels as Record<string, string>)['team'] = 'x'; }, TypeError);
  });

  test('no labels or headers is the one shared empty map; label order is kept (it is the order on the wire)', () => {
    const pool = new SharedTaskParts();
    const bare = pool.share(task('bare', { labels: {} }));
    assert.equal(bare.labels, NO_ENTRIES);
    assert.equal(bare.action.headers, NO_ENTRIES);
    const ab = pool.share(task('ab', { labels: { a: '1', b: '2' } }));
    const ba = pool.share(task('ba', { labels: { b: '2', a: '1' } }));
    assert.deepEqual(Object.keys(ab.labels), ['a', 'b']);
    assert.deepEqual(Object.keys(ba.labels), ['b', 'a']);
    assert.notEqual(ab.labels, ba.labels);
  });

  test('large payloads are kept as they are; the original task is not changed', () => {
    const pool = new SharedTaskParts();
    const big = new Uint8Array(4096).fill(1);
    const t1 = task('big1', {}, { kind: 'natsPublish', subject: 's', payload: big, headers: {}, jetstream: false });
    const t2 = task('big2', {}, { kind: 'natsPublish', subject: 's', payload: new Uint8Array(4096).fill(1), headers: {}, jetstream: false });
    const s1 = pool.share(t1);
    const s2 = pool.share(t2);
    assert.equal(s1.action.kind === 'natsPublish' && s1.action.payload, big);
    assert.ok(s1.action.kind === 'natsPublish' && s2.action.kind === 'natsPublish' && s1.action.payload !== s2.action.payload);
    assert.ok(!Object.isFrozen(t1.labels), 'the input keeps its own objects');
  });
});

describe('SharedTaskParts.adopt', () => {
  test('replaces the parts of a task only its caller holds, in place: equal values, shared instances', () => {
    const pool = new SharedTaskParts();
    const fresh = [task('x1'), task('x2'), task('x3', {}, { kind: 'http', url: 'https://example.com/h', method: 'POST', headers: { A: 'b' }, body: new Uint8Array(3), successCodes: [] })];
    const copies = fresh.map((t) => structuredClone(t));
    const adopted = fresh.map((t) => pool.adopt(t));
    adopted.forEach((t, i) => {
      assert.equal(t, fresh[i], 'the same object');
      assert.deepStrictEqual(t, copies[i]);
    });
    assert.equal(adopted[0]!.labels, adopted[1]!.labels);
    assert.equal(adopted[0]!.schedule, adopted[2]!.schedule);
    assert.equal(adopted[0]!.action.headers, NO_ENTRIES);
    assert.equal(pool.share(task('x4')).labels, adopted[0]!.labels, 'one pool for both ways');
  });
});
