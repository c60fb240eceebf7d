import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Execution } from '../../src/domain/execution.js';
import { ControlPlane } from '../../src/engine/control-plane.js';
import type { Store } from '../../src/store/store.js';
import { CONTEXT, EngineHarness, harnessPerTest } from '../helpers/engine-harness.js';

/**
 * The control plane's own bookkeeping around the store: how many store calls a page, a create
 * and the task limit cost, and that the answers are the same whichever way they are computed.
 * A real SQLite store in a temp dir and a fake clock (EngineHarness).
 */

const harness = harnessPerTest();

/**
 * The harness's store with every call counted, and optionally the bulk `lastExecutions`.
 */
function spiedStore(store: Store, options: { bulk?: boolean } = {}): { store: Store; calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const count = (name: string) => calls.set(name, (calls.get(name) ?? 0) + 1);
  const bulk = async (names: string[]): Promise<Map<string, Execution>> => {
    count('lastExecutions');
    const found = new Map<string, Execution>();
    for (const name of names) {
      const last = await store.lastExecution(name);
      if (last !== undefined) found.set(name, last);
    }
    return found;
  };
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'lastExecutions') return options.bulk === true ? bulk : undefined;
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        count(String(prop));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: proxy, calls };
}

function controlPlane(h: EngineHarness, store: Store, maxTasks?: number): ControlPlane {
  return new ControlPlane({ store, engine: h.engine, clock: h.clock, watch: (q, s) => h.hub.watch(q, s), ...(maxTasks === undefined ? {} : { maxTasks }) });
}

describe('ControlPlane.listTasks', () => {
  test('one lastExecutions call per page when the store has it, and the same views as a call per task', async () => {
    const h = await harness();
    for (const name of ['list-a', 'list-b', 'list-c']) await h.create(name, '0 0 * * *');
    const runA = await h.api.runTask('list-a', CONTEXT);
    await h.api.runTask('list-b', CONTEXT);
    await h.engine.idle();
    // b is deleted and created again: its predecessor's run must not show.
    await h.api.deleteTask('list-b', '', CONTEXT);
    await h.clock.advance(1_000);
    await h.create('list-b', '0 0 * * *');

    const perTask = spiedStore(h.store);
    const bulk = spiedStore(h.store, { bulk: true });
    const query = { pageSize: 0, pageToken: '', filter: 'name=list-*' };
    const one = await controlPlane(h, perTask.store).listTasks(query);
    const two = await controlPlane(h, bulk.store).listTasks(query);

    assert.deepEqual(one.tasks.map((v) => [v.task.name, v.lastExecution?.id]), [['list-a', runA.id], ['list-b', undefined], ['list-c', undefined]]);
    assert.deepEqual(two, one);
    assert.equal(one.tasks[0]!.nextRunTimes.length, 5);
    assert.equal(perTask.calls.get('lastExecution'), 3);
    assert.equal(bulk.calls.get('lastExecutions'), 1);
    assert.equal(bulk.calls.get('lastExecution'), undefined);
  });

  test('an empty page asks the store nothing about executions', async () => {
    const h = await harness();
    const bulk = spiedStore(h.store, { bulk: true });
    const page = await controlPlane(h, bulk.store).listTasks({ pageSize: 0, pageToken: '', filter: 'name=none-*' });
    assert.deepEqual(page, { tasks: [], nextPageToken: '' });
    assert.equal(bulk.calls.get('lastExecutions'), undefined);
  });
});

describe('ControlPlane.createTask', () => {
  test('a new name costs no read; a taken name is ALREADY_EXISTS unless it is the same request again', async () => {
    const h = await harness();
    const spy = spiedStore(h.store);
    const api = controlPlane(h, spy.store);
    const first = await api.createTask(h.spec('dup', '0 0 * * *'), { ...CONTEXT, createRequestId: 'req-1' });
    assert.equal(first.lastExecution, undefined);
    assert.equal(first.nextRunTimes.length, 5);
    assert.equal(spy.calls.get('getTask'), undefined, 'no read before the insert');
    assert.equal(spy.calls.get('lastExecution'), undefined, 'a task created just now has no history to show');

    const again = await api.createTask(h.spec('dup', '0 0 * * *'), { ...CONTEXT, createRequestId: 'req-1' });
    assert.equal(again.task.etag, first.task.etag);
    await assert.rejects(api.createTask(h.spec('dup', '0 0 * * *'), { ...CONTEXT, createRequestId: 'req-2' }), { name: 'TaskAlreadyExistsError' });
    await assert.rejects(api.createTask(h.spec('dup', '0 0 * * *'), CONTEXT), { name: 'TaskAlreadyExistsError' });
    assert.equal((await api.getTask('dup')).task.etag, first.task.etag, 'the refused creates wrote nothing');
  });
});

describe('ControlPlane task limit (maxTasks)', () => {
  test('refuses at the limit, answers a retried create there, frees a place on delete', async () => {
    const h = await harness();
    const spy = spiedStore(h.store);
    const api = controlPlane(h, spy.store, 3);
    for (const name of ['lim-a', 'lim-b']) await api.createTask(h.spec(name, '0 0 * * *'), CONTEXT);
    const c = await api.createTask(h.spec('lim-c', '0 0 * * *'), { ...CONTEXT, createRequestId: 'req-c' });
    await assert.rejects(api.createTask(h.spec('lim-d', '0 0 * * *'), CONTEXT), { name: 'ResourceExhaustedError', message: /maximum of 3 tasks/ });
    // At the limit, a taken name is still answered as before the limit check.
    assert.equal((await api.createTask(h.spec('lim-c', '0 0 * * *'), { ...CONTEXT, createRequestId: 'req-c' })).task.etag, c.task.etag);
    await assert.rejects(api.createTask(h.spec('lim-c', '0 0 * * *'), CONTEXT), { name: 'TaskAlreadyExistsError' });

    await api.deleteTask('lim-a', '', CONTEXT);
    await api.createTask(h.spec('lim-d', '0 0 * * *'), CONTEXT);
    await assert.rejects(api.createTask(h.spec('lim-e', '0 0 * * *'), CONTEXT), { name: 'ResourceExhaustedError' });
    assert.equal(await h.store.countTasks(), 3);
  });

  test('concurrent creates at the limit never end above it by more than they did before', async () => {
    const h = await harness();
    const api = controlPlane(h, h.store, 5);
    const results = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => api.createTask(h.spec(`par-${i}`, '0 0 * * *'), CONTEXT)));
    assert.ok(results.every((r) => r.status === 'fulfilled'));
    const late = await Promise.allSettled(Array.from({ length: 3 }, (_, i) => api.createTask(h.spec(`late-${i}`, '0 0 * * *'), CONTEXT)));
    assert.ok(late.every((r) => r.status === 'rejected' && (r.reason as Error).name === 'ResourceExhaustedError'));
    assert.equal(await h.store.countTasks(), 5);
  });
});
