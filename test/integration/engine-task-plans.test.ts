import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import type { ActionSpec } from '../../src/domain/task.js';
import { CONTEXT, harnessPerTest, type EngineHarness } from '../helpers/engine-harness.js';

// At start the engine loads each task's plan (Store.allTaskPlans: what scheduling needs) and
// reads the whole task from the store when it fires. These tests pin when it reads, that what
// runs is the whole task as stored, and the races of a read with a change.

const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);
const harness = harnessPerTest();

const ACTION: Extract<ActionSpec, { kind: 'natsPublish' }> = {
  kind: 'natsPublish',
  subject: 'jobs.whole',
  payload: new Uint8Array([1, 2, 3]),
  headers: { 'x-team': 'ops' },
  jetstream: false,
};

/** A restart on the same file: the engine then holds plans only. */
async function restart(h: EngineHarness): Promise<void> {
  await h.halt();
  await h.start();
}

/** The scheduled times (seconds after T0) and states of a task's executions. */
async function story(h: EngineHarness, task: string): Promise<[number, string][]> {
  return (await h.finals(task)).map((e) => [(e.scheduledTime - T0) / 1000, e.state]);
}

/** A read held until `release` is called. */
function holdReads(h: EngineHarness): { release: () => void } {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  h.holdTaskRead = () => held;
  return {
    release: () => {
      h.holdTaskRead = undefined;
      release();
    },
  };
}

describe('engine: plans at start, whole tasks when they fire', () => {
  test('a start reads no task; the first fire reads its task once and runs its action as stored', async () => {
    const h = await harness();
    await h.create('often', '* * * * * *', { action: ACTION });
    await h.create('hourly', '0 * * * *');
    await restart(h);
    assert.deepEqual(h.taskReads, [], 'neither created nor restarted tasks are read whole');
    await h.advance(1_000);
    assert.deepEqual(h.taskReads, ['often']);
    assert.deepEqual(h.actions.calls.map((c) => c.action), [ACTION]);
    await h.advance(5_000);
    assert.deepEqual(h.taskReads, ['often'], 'a task firing every second keeps its whole task');
    assert.deepEqual(await story(h, 'often'), [1, 2, 3, 4, 5, 6].map((s) => [s, 'SUCCEEDED']));
    assert.deepEqual(await story(h, 'hourly'), []);
    assert.deepEqual(h.errors, []);
  });

  test('a task that fires again only after the hold lets its whole task go and reads it at each fire', async () => {
    const h = await harness();
    await h.create('hourly', '0 * * * *', { action: ACTION });
    await h.create('minutely', '0 * * * * *', { action: ACTION });
    await restart(h);
    await h.advance(3_600_000);
    assert.deepEqual(h.taskReads, ['minutely', 'hourly']);
    await h.advance(3_600_000);
    assert.deepEqual(h.taskReads, ['minutely', 'hourly', 'hourly'], 'read again an hour later; the per-minute task never again');
    assert.deepEqual(await story(h, 'hourly'), [[3600, 'SUCCEEDED'], [7200, 'SUCCEEDED']]);
    assert.equal((await story(h, 'minutely')).length, 120);
    assert.ok(h.actions.calls.every((c) => isDeepStrictEqual(c.action, ACTION)), 'every fire runs the stored action');
    assert.deepEqual(h.errors, []);
  });

  test('a task updated while its whole task is read runs as updated', async () => {
    const h = await harness();
    await h.create('moving', '* * * * * *', { action: ACTION });
    await restart(h);
    const read = holdReads(h);
    await h.advance(500); // the claim 500 ms ahead waits for the read
    const before = (await h.api.getTask('moving')).task;
    await h.api.updateTask({ spec: { ...h.spec('moving', '* * * * * *'), action: { ...ACTION, subject: 'jobs.moved' } }, paths: ['action'], etag: before.etag }, CONTEXT);
    read.release();
    await h.advance(1_500);
    assert.deepEqual(h.actions.calls.map((c) => (c.action.kind === 'natsPublish' ? c.action.subject : c.action.kind)), ['jobs.moved', 'jobs.moved']);
    assert.deepEqual(await story(h, 'moving'), [[1, 'SUCCEEDED'], [2, 'SUCCEEDED']]);
    assert.deepEqual(h.errors, []);
  });

  test('a task deleted while its whole task is read does not run, and nothing is claimed for it', async () => {
    const h = await harness();
    await h.create('doomed', '* * * * * *');
    await restart(h);
    const read = holdReads(h);
    await h.advance(500);
    await h.api.deleteTask('doomed', '', CONTEXT);
    read.release();
    await h.advance(2_000);
    assert.equal(h.actions.calls.length, 0);
    assert.deepEqual(await story(h, 'doomed'), []);
    assert.deepEqual(h.errors, []);
  });

  test('a task paused while its whole task is read does not run', async () => {
    const h = await harness();
    await h.create('stopped', '* * * * * *');
    await restart(h);
    const read = holdReads(h);
    await h.advance(500);
    await h.api.pauseTask('stopped', 'maintenance', CONTEXT);
    read.release();
    await h.advance(2_000);
    assert.equal(h.actions.calls.length, 0);
    assert.ok((await story(h, 'stopped')).every(([, state]) => state === 'CANCELLED'), 'a claim made before the pause is cancelled');
    assert.deepEqual(h.errors, []);
  });

  test('a failure counted while the task is read is not undone by the (older) task read', async () => {
    const h = await harness();
    await h.create('flaky', '* * * * * *');
    await restart(h);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    h.holdTaskRead = () => {
      h.holdTaskRead = undefined; // only the claim's read: the failure count reads at once
      return held;
    };
    await h.advance(500); // the claim of 00:00:01 reads the task: 0 consecutive failures
    h.actions.queue({ fail: 'boom' });
    await h.api.runTask('flaky', CONTEXT);
    await h.advance(0);
    assert.equal((await h.api.getTask('flaky')).task.consecutiveFailures, 1);
    release();
    await h.advance(500); // 00:00:01 runs and succeeds: the count goes back to 0
    assert.deepEqual((await story(h, 'flaky')).map(([, state]) => state), ['FAILED', 'SUCCEEDED']);
    assert.equal((await h.api.getTask('flaky')).task.consecutiveFailures, 0);
    assert.deepEqual(h.errors, []);
  });

  test('a claim kept across a restart, its task paused while read at its time: CANCELLED, never run', async () => {
    const h = await harness();
    await h.create('kept', '* * * * * *');
    await h.advance(600); // 00:00:01 claimed (PENDING)
    await h.store.close(); // a crash: the claim stays, the engine holds plans after the start
    await h.engine.stop(0).catch(() => undefined);
    await h.start();
    const read = holdReads(h);
    await h.advance(400); // its time: the start reads the task
    await h.api.pauseTask('kept', '', CONTEXT);
    read.release();
    await h.advance(0);
    assert.equal(h.actions.calls.length, 0);
    const [first] = await h.finals('kept');
    assert.deepEqual([first?.state, first?.error], ['CANCELLED', 'cancelled: the task was paused']);
  });

  test('a catch-up run after downtime, its task paused while read: recorded CANCELLED, never run', async () => {
    const h = await harness();
    await h.create('caught', '0 * * * *');
    await h.halt();
    await h.advance(2 * 3_600_000 + 10_000); // down over 01:00 and 02:00
    const read = holdReads(h);
    await h.start();
    await h.advance(0); // misfire RUN_ONCE: 01:00 MISSED, 02:00 caught up, which reads the task
    await h.api.pauseTask('caught', '', CONTEXT);
    read.release();
    await h.advance(0);
    assert.equal(h.actions.calls.length, 0);
    assert.deepEqual(await story(h, 'caught'), [[3600, 'MISSED'], [7200, 'CANCELLED']]);
  });

  test('a task read that another execution outdates meanwhile is read again (the failure count stays right)', async () => {
    const h = await harness();
    await h.create('hourly', '0 * * * *');
    await h.halt();
    await h.advance(3_600_000 + 10_000); // down over 01:00: it is caught up at the start
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    h.holdTaskRead = () => {
      h.holdTaskRead = undefined;
      return held;
    };
    await h.start();
    await h.advance(0); // the catch-up of 01:00 reads the task: 0 consecutive failures
    h.actions.queue({ fail: 'boom' });
    await h.api.runTask('hourly', CONTEXT); // fails: 1, held and then let go again (its next run is an hour away)
    await h.advance(0);
    assert.equal((await h.api.getTask('hourly')).task.consecutiveFailures, 1);
    release();
    await h.advance(0); // the catch-up runs and succeeds: back to 0
    assert.deepEqual((await story(h, 'hourly')).map(([, state]) => state).sort(), ['FAILED', 'SUCCEEDED']);
    assert.equal((await h.api.getTask('hourly')).task.consecutiveFailures, 0);
    assert.deepEqual(h.errors, []);
  });

  test('max_runs counts the runs from before a restart (the plan carries the run count)', async () => {
    const h = await harness();
    await h.create('thrice', '* * * * * *', { maxRuns: 3 });
    await h.advance(2_000);
    await restart(h);
    await h.advance(5_000);
    assert.deepEqual(await story(h, 'thrice'), [[1, 'SUCCEEDED'], [2, 'SUCCEEDED'], [3, 'SUCCEEDED']]);
    assert.equal((await h.api.getTask('thrice')).task.runCount, 3);
    assert.deepEqual(h.errors, []);
  });

  test('a let-go task still shows its next run times, and a resume reschedules it from its plan', async () => {
    const h = await harness();
    await h.create('hourly', '0 * * * *');
    await restart(h);
    await h.advance(3_600_000);
    assert.deepEqual((await h.api.getTask('hourly')).nextRunTimes.slice(0, 2), [T0 + 7_200_000, T0 + 10_800_000]);
    await h.api.pauseTask('hourly', '', CONTEXT);
    await h.advance(3_600_000);
    await h.api.resumeTask('hourly', CONTEXT);
    await h.advance(3_600_000);
    assert.deepEqual(await story(h, 'hourly'), [[3600, 'SUCCEEDED'], [10800, 'SUCCEEDED']]);
    assert.deepEqual(h.errors, []);
  });
});
