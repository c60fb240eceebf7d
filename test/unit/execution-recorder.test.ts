import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Execution, ExecutionEvent } from '../../src/domain/execution.js';
import { ExecutionRecorder } from '../../src/engine/execution-recorder.js';
import { FakeClock } from '../../src/engine/fake-clock.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { pendingExecution } from '../helpers/executions.js';

function execution(): Execution {
  return pendingExecution({ id: 'exec-1', taskName: 'a', scheduledTime: 1_000 });
}

test('the recorder hands the store a snapshot: an execution changed after record or recordSoon changes no event', async () => {
  const store = SqliteStore.open(':memory:');
  const heard: ExecutionEvent[] = [];
  const recorder = new ExecutionRecorder(store, new FakeClock(5_000), (e) => heard.push(e));
  try {
    const exec = execution();
    const claimed = await recorder.record(exec, { claim: true });
    exec.state = 'RUNNING';
    exec.attempts.push({ number: 1, startTime: 5_000, endTime: undefined, state: 'RUNNING', error: '' });
    const soon = recorder.recordSoon(exec);
    // changed in the same turn, before the queued write is submitted
    exec.state = 'SUCCEEDED';
    exec.attempts[0]!.state = 'SUCCEEDED';
    const running = await soon;
    assert.equal(claimed!.execution.state, 'PENDING');
    assert.deepEqual(claimed!.execution.attempts, []);
    assert.equal(running!.execution.state, 'RUNNING');
    assert.equal(running!.execution.attempts[0]!.state, 'RUNNING');
    assert.deepEqual(heard.map((e) => e.execution.state), ['PENDING', 'RUNNING']);
    assert.deepEqual((await store.pendingOutbox(10)).map((e) => e.execution.state), ['PENDING', 'RUNNING']);
  } finally {
    await store.close();
  }
});

test('recordSoon submits everything queued in a turn together, in order, each settling with its own event', async () => {
  const store = SqliteStore.open(':memory:');
  const recorder = new ExecutionRecorder(store, new FakeClock(5_000), () => undefined);
  try {
    const execs = [1, 2, 3].map((i) => ({ ...execution(), id: `exec-${i}`, taskName: `t${i}` }));
    const events = await Promise.all(execs.map((e) => recorder.recordSoon(e)));
    assert.deepEqual(events.map((e) => e!.execution.id), ['exec-1', 'exec-2', 'exec-3']);
    assert.deepEqual(events.map((e) => e!.sequence), [1, 2, 3]);
    // a refused one (a different final state is stored) settles undefined without failing the others
    await recorder.record({ ...execs[0]!, state: 'CANCELLED' });
    const [refused, accepted] = await Promise.all([recorder.recordSoon({ ...execs[0]!, state: 'RUNNING' }), recorder.recordSoon({ ...execs[1]!, state: 'RUNNING' })]);
    assert.equal(refused, undefined);
    assert.equal(accepted!.execution.state, 'RUNNING');
  } finally {
    await store.close();
  }
});
