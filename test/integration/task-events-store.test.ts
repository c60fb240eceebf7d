import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Execution } from '../../src/domain/execution.js';
import { emptyTaskSpec, type Task } from '../../src/domain/task.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { pendingExecution } from '../helpers/executions.js';

const dir = mkdtempSync(join(tmpdir(), 'cronplane-task-events-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function task(name: string, etag: string, state: Task['state'] = 'ENABLED'): Task {
  return {
    ...emptyTaskSpec(name),
    schedule: { cron: '* * * * *', timeZone: '' },
    action: { kind: 'natsPublish', subject: 'x', payload: new Uint8Array(), headers: {}, jetstream: false },
    state,
    pausedReason: '',
    createTime: 1,
    updateTime: 2,
    etag,
    runCount: 0,
    consecutiveFailures: 0,
    createdBy: '',
    updatedBy: '',
    scheduleAnchor: 0,
    createRequestId: '',
  };
}

function execution(id: string, at: number): Execution {
  return pendingExecution({ id, taskName: 't', scheduledTime: at });
}

test('task writes queue created/updated/paused/resumed/deleted events in the same transaction; status writes do not', async () => {
  const store = SqliteStore.open(join(dir, 'a.db'));
  await store.createTask(task('t', 'e1'));
  await store.replaceTask({ ...task('t', 'e1'), runCount: 5 }, 'e1'); // same etag: engine status write
  await store.replaceTask(task('t', 'e2'), 'e1');
  await store.replaceTask(task('t', 'e3', 'PAUSED'), 'e2');
  await store.replaceTask(task('t', 'e4', 'ENABLED'), 'e3');
  await assert.rejects(store.replaceTask(task('t', 'e9'), 'stale'), { name: 'EtagMismatchError' });
  await store.deleteTask('t', undefined, 1234);
  const events = await store.pendingTaskOutbox(100);
  assert.deepEqual(events.map((e) => e.change), ['created', 'updated', 'paused', 'resumed', 'deleted']);
  assert.equal(events.at(-1)!.time, 1234);
  assert.equal(events.at(-1)!.task.etag, 'e4', 'a deleted event carries the task as it was');
  assert.equal(new Set(events.map((e) => e.id)).size, 5);
  assert.equal(await store.outboxSize(), 5);
  await store.ackTaskOutbox(events.slice(0, 2).map((e) => e.sequence));
  await store.close();

  const reopened = SqliteStore.open(join(dir, 'a.db'));
  assert.deepEqual((await reopened.pendingTaskOutbox(100)).map((e) => e.change), ['paused', 'resumed', 'deleted'], 'unacked task events survive a restart');
  assert.equal(await reopened.outboxSize(), 3);
  await reopened.close();
});

test('the outbox is bounded: beyond the limit the oldest waiting events give way, history keeps them', async () => {
  const store = SqliteStore.open(join(dir, 'b.db'), { outboxLimit: 10 });
  for (let i = 0; i < 25; i++) await store.recordExecution(execution(`x${i}`, i * 1000), { id: `ev${i}`, time: i }, { claim: true });
  assert.equal(await store.outboxSize(), 10);
  assert.equal(await store.droppedOutboxEvents(), 15);
  const pending = await store.pendingOutbox(100);
  assert.deepEqual(pending.map((e) => e.id), Array.from({ length: 10 }, (_, i) => `ev${i + 15}`), 'the newest ten are kept, in order');
  assert.equal((await store.eventsAfter(0, 100)).length, 25, 'the replay history still has every event');
  await store.close();

  const reopened = SqliteStore.open(join(dir, 'b.db'), { outboxLimit: 10 });
  assert.equal(await reopened.outboxSize(), 10, 'what was dropped stays dropped after a restart');
  assert.deepEqual((await reopened.pendingOutbox(100)).map((e) => e.id), pending.map((e) => e.id));
  await reopened.recordExecution(execution('x25', 25_000), { id: 'ev25', time: 25 }, { claim: true });
  assert.equal(await reopened.droppedOutboxEvents(), 1, 'counted since the store opened');
  assert.deepEqual((await reopened.pendingOutbox(100)).map((e) => e.id), [...pending.slice(1).map((e) => e.id), 'ev25']);
  await reopened.ackOutbox((await reopened.pendingOutbox(100)).map((e) => e.sequence));
  assert.equal(await reopened.outboxSize(), 0);
  await reopened.close();
});
