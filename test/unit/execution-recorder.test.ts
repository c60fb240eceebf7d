import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Execution, ExecutionEvent } from '../../src/domain/execution.js';
import { ExecutionRecorder } from '../../src/engine/execution-recorder.js';
import { FakeClock } from '../../src/engine/fake-clock.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { pendingExecution } from '../helpers/executions.js';

function execution(id = 'exec-1', taskName = 'a'): Execution {
  return pendingExecution({ id, taskName, scheduledTime: 1_000 });
}

/** Move `exec` into its first attempt, as the runner does when the action starts. */
function start(exec: Execution, at: number): void {
  exec.state = 'RUNNING';
  exec.attempt = 1;
  exec.startTime = at;
  exec.attempts.push({ number: 1, startTime: at, endTime: undefined, state: 'RUNNING', error: '' });
}

function succeed(exec: Execution, at: number): void {
  exec.state = 'SUCCEEDED';
  exec.endTime = at;
  exec.attempts[0]!.state = 'SUCCEEDED';
  exec.attempts[0]!.endTime = at;
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
const keepTrying = { keepTrying: () => true };

/** A recorder on a fresh in-memory store (`store` overrides what the recorder sees), and every event it emitted. */
async function withRecorder(
  run: (ctx: { store: SqliteStore; heard: ExecutionEvent[]; recorder: ExecutionRecorder }) => Promise<void>,
  seen?: (store: SqliteStore) => Store,
): Promise<void> {
  const store = SqliteStore.open(':memory:');
  const heard: ExecutionEvent[] = [];
  const recorder = new ExecutionRecorder(seen?.(store) ?? store, new FakeClock(5_000), (e) => heard.push(e));
  try {
    await run({ store, heard, recorder });
  } finally {
    await store.close();
  }
}

/** The store with one member replaced (undefined: as if it had none); everything else passes through. */
function overriding(store: SqliteStore, member: keyof Store, value: unknown): Store {
  return new Proxy(store, {
    get: (target, prop) => {
      if (prop === member) return value;
      const v = Reflect.get(target, prop) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as Store;
}

test('a held start is a snapshot: the execution changed afterwards changes no event', () =>
  withRecorder(async ({ store, heard, recorder }) => {
    const exec = execution();
    const claimed = await recorder.record(exec, { claim: true });
    start(exec, 5_000);
    const held = recorder.holdStart(exec);
    succeed(exec, 5_000); // in the same turn, before the held start is submitted
    const running = await held.release();
    assert.equal(claimed!.execution.state, 'PENDING');
    assert.deepEqual(claimed!.execution.attempts, []);
    assert.equal(running!.execution.state, 'RUNNING');
    assert.equal(running!.execution.attempts[0]!.state, 'RUNNING');
    assert.deepEqual(heard.map((e) => e.execution.state), ['PENDING', 'RUNNING']);
    assert.deepEqual((await store.pendingOutbox(10)).map((e) => e.execution.state), ['PENDING', 'RUNNING']);
  }));

test('held starts are held for two turns of the event loop, then submitted together, in order, each settling with its own event', () =>
  withRecorder(async ({ store, recorder }) => {
    const execs = [1, 2, 3].map((i) => execution(`exec-${i}`, `t${i}`));
    for (const e of execs) start(e, 5_000);
    const held = execs.map((e) => recorder.holdStart(e));
    await turn();
    assert.equal(await store.lastSequence(), 0, 'still held after one turn');
    await turn();
    await turn(); // the write's own turn
    assert.equal(await store.lastSequence(), 3, 'submitted after the second');
    const events = await Promise.all(held.map((h) => h.release()));
    assert.deepEqual(events.map((e) => e!.execution.id), ['exec-1', 'exec-2', 'exec-3']);
    assert.deepEqual(events.map((e) => e!.sequence), [1, 2, 3]);
    assert.equal(held[0]!.take(), undefined, 'a submitted start cannot be taken any more');
    // a refused one (a different final state is stored) settles undefined without failing the others
    await recorder.record({ ...execs[0]!, state: 'CANCELLED' });
    const [refused, accepted] = [recorder.holdStart(execs[0]!), recorder.holdStart(execution('exec-4', 't4'))];
    assert.equal(await refused.release(), undefined);
    assert.equal((await accepted.release())!.execution.id, 'exec-4');
  }));

test('a start taken before its hold ends is stored with the end in one write: two events, consecutive sequences, heard in order', async () => {
  const twoChangeWrites: string[] = [];
  const counting = (store: SqliteStore) =>
    overriding(store, 'recordTwoChanges', (...args: Parameters<NonNullable<Store['recordTwoChanges']>>) => {
      twoChangeWrites.push(args[1].execution.state);
      return store.recordTwoChanges(...args);
    });
  await withRecorder(async ({ store, heard, recorder }) => {
    const exec = execution();
    await recorder.record(exec, { claim: true });
    start(exec, 5_000);
    const held = recorder.holdStart(exec);
    const taken = held.take();
    assert.ok(taken !== undefined);
    assert.equal(held.take(), undefined, 'taken once');
    assert.equal(await held.release(), undefined, 'a taken start is not submitted on its own');
    succeed(exec, 5_000);
    const final = await recorder.recordFinal(exec, { ...keepTrying, start: taken });
    assert.deepEqual(twoChangeWrites, ['SUCCEEDED'], 'one write for both');
    assert.equal(final!.execution.state, 'SUCCEEDED');
    assert.deepEqual(heard.map((e) => [e.sequence, e.execution.state]), [[1, 'PENDING'], [2, 'RUNNING'], [3, 'SUCCEEDED']]);
    assert.equal(heard[1]!.id, taken.eventId, 'the start keeps the event id it was given when held');
    assert.deepEqual((await store.pendingOutbox(10)).map((e) => [e.sequence, e.execution.state, e.execution.attempts[0]?.state]), [
      [1, 'PENDING', undefined],
      [2, 'RUNNING', 'RUNNING'],
      [3, 'SUCCEEDED', 'SUCCEEDED'],
    ]);
    assert.deepEqual((await store.eventsAfter(0, 10)).map((e) => e.execution.state), ['PENDING', 'RUNNING', 'SUCCEEDED'], 'read back from the file too');
    assert.equal((await store.getExecution(exec.id))!.state, 'SUCCEEDED');
    // held after the turn: nothing more was written
    await turn();
    await turn();
    await turn();
    assert.equal(await store.lastSequence(), 3);
  }, counting);
});

test('a start and end refused together: the stored execution ended otherwise, nothing of either is written', () =>
  withRecorder(async ({ store, heard, recorder }) => {
    const exec = execution();
    await recorder.record(exec, { claim: true });
    start(exec, 5_000);
    const taken = recorder.holdStart(exec).take()!;
    await recorder.record({ ...exec, state: 'CANCELLED', attempts: [] }); // cancelled elsewhere meanwhile
    succeed(exec, 5_000);
    assert.equal(await recorder.recordFinal(exec, { ...keepTrying, start: taken }), undefined);
    assert.deepEqual(heard.map((e) => e.execution.state), ['PENDING', 'CANCELLED']);
    assert.equal(await store.lastSequence(), 2);
    assert.equal((await store.getExecution(exec.id))!.state, 'CANCELLED');
  }));

test('a store without two-change writes gets the start, then the end, as two writes with the same events', () =>
  withRecorder(async ({ heard, recorder }) => {
    const exec = execution();
    await recorder.record(exec, { claim: true });
    start(exec, 5_000);
    const taken = recorder.holdStart(exec).take()!;
    succeed(exec, 5_000);
    const final = await recorder.recordFinal(exec, { ...keepTrying, start: taken });
    assert.equal(final!.execution.state, 'SUCCEEDED');
    assert.deepEqual(heard.map((e) => [e.sequence, e.execution.state]), [[1, 'PENDING'], [2, 'RUNNING'], [3, 'SUCCEEDED']]);
    assert.equal(heard[1]!.id, taken.eventId);
    // Nothing to gain by holding for such a store: a start not taken goes out after one turn.
    const other = execution('exec-2', 'b');
    await recorder.record(other, { claim: true });
    start(other, 5_000);
    recorder.holdStart(other);
    await turn();
    await turn(); // the write's own turn
    assert.deepEqual(heard.slice(4).map((e) => [e.execution.id, e.execution.state]), [['exec-2', 'RUNNING']]);
  }, (store) => overriding(store, 'recordTwoChanges', undefined)));
