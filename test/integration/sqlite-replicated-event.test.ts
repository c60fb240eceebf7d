import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UnavailableError } from '../../src/domain/errors.js';
import type { Execution, ExecutionEvent, ExecutionState } from '../../src/domain/execution.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { pendingExecution } from '../helpers/executions.js';

const T0 = Date.UTC(2025, 0, 1);

function execution(id: string, overrides: Partial<Execution> = {}): Execution {
  return pendingExecution({ id, taskName: 't', scheduledTime: T0, node: 'n1', ...overrides });
}

function event(sequence: number, exec: Execution, state: ExecutionState = exec.state): ExecutionEvent {
  return { sequence, id: `ev-${sequence}`, time: T0 + sequence, execution: { ...exec, state } };
}

test('applyReplicatedEvent keeps the given sequences, is idempotent by sequence, and fills no outbox', async () => {
  const store = SqliteStore.open(':memory:');
  try {
    const a = execution('a', { attempts: [{ number: 1, startTime: T0 + 1, endTime: undefined, state: 'RUNNING', error: '' }] });
    assert.equal(store.applyReplicatedEvent(event(5, a)), true);
    assert.equal(store.applyReplicatedEvent(event(5, a, 'RUNNING')), false, 'a sequence already applied is ignored');
    assert.equal(store.applyReplicatedEvent(event(9, a, 'RUNNING')), true);
    // an earlier sequence arriving late still lands in the event log, in sequence order
    const b = execution('b', { trigger: 'MANUAL', taskName: 'u' });
    assert.equal(store.applyReplicatedEvent(event(7, b)), true);

    assert.deepEqual((await store.eventsAfter(0, 10)).map((e) => e.sequence), [5, 7, 9]);
    assert.deepEqual((await store.eventsAfter(5, 10)).map((e) => e.id), ['ev-7', 'ev-9']);
    assert.equal(await store.lastSequence(), 9);
    assert.deepStrictEqual(await store.getExecution('a'), { ...a, state: 'RUNNING' });
    assert.equal(await store.outboxSize(), 0);
    assert.deepEqual(await store.pendingOutbox(10), []);
    assert.equal(await store.lastOccurrence('t'), T0);
  } finally {
    await store.close();
  }
});

test('applyReplicatedEvent never leaves a final state nor adds a second execution for an occurrence', async () => {
  const store = SqliteStore.open(':memory:');
  try {
    const a = execution('a');
    assert.ok(store.applyReplicatedEvent(event(1, a, 'RUNNING')));
    assert.ok(store.applyReplicatedEvent(event(2, a, 'LOST')));
    assert.equal(store.applyReplicatedEvent(event(3, a, 'SUCCEEDED')), false);
    assert.equal(store.applyReplicatedEvent(event(4, a, 'RETRYING')), false);
    assert.equal((await store.getExecution('a'))!.state, 'LOST');
    assert.ok(store.applyReplicatedEvent(event(5, { ...a, error: 'more detail' }, 'LOST')), 'the same final state again is not leaving it');

    assert.equal(store.applyReplicatedEvent(event(6, execution('other'))), false, 'same task and scheduled time');
    assert.ok(store.applyReplicatedEvent(event(7, execution('manual', { trigger: 'MANUAL' }))), 'manual runs share instants');
    assert.deepEqual((await store.eventsAfter(0, 10)).map((e) => e.sequence), [1, 2, 5, 7]);
    // sequences continue above the replicated ones for the store's own writes
    const own = await store.recordExecution(execution('own', { scheduledTime: T0 + 1 }), { id: 'x', time: T0 }, { claim: true });
    assert.equal(own!.sequence, 8);
  } finally {
    await store.close();
  }
  assert.throws(() => store.applyReplicatedEvent(event(9, execution('z'))), UnavailableError);
});
