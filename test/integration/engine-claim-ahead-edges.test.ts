import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Execution } from '../../src/domain/execution.js';
import type { Engine } from '../../src/engine/engine.js';
import { CONTEXT, EngineHarness, harnessPerTest } from '../helpers/engine-harness.js';

// Edges of claiming occurrences 500 ms ahead of their time (stored PENDING, started by the
// timer at the time): races with the control plane and stop, run counts, misfire, restarts.
// Fake clock, real SQLite. Times below are seconds after T0.

const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);
const at = (second: number) => T0 + second * 1000;
const harness = harnessPerTest();

/** Every stored state of the execution of `task` scheduled at `second`, in order. */
function storyAt(h: EngineHarness, task: string, second: number): string[] {
  return h.events
    .filter((e) => e.execution.taskName === task && e.execution.scheduledTime === at(second))
    .map((e) => e.execution.state);
}

/** [second, state] of each execution of `task`, by scheduled time. */
async function timeline(h: EngineHarness, task: string): Promise<[number, string][]> {
  return (await h.finals(task)).map((e) => [(e.scheduledTime - T0) / 1000, e.state]);
}

/** Seconds (scheduled time) of each action call for `task`, in call order. */
function calledFor(h: EngineHarness, task: string): number[] {
  return h.actions.calls
    .filter((c) => c.headers['Cronplane-Task'] === task)
    .map((c) => (Date.parse(c.headers['Cronplane-Scheduled-Time']!) - T0) / 1000);
}

/** A write the test lets through when it says so. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

/** The engine's private bookkeeping, for leak checks. */
function internals(engine: Engine) {
  const e = engine as unknown as {
    runtimes: Map<string, unknown>;
    handles: Map<string, unknown>;
    inflight: Set<unknown>;
    claimed: { size: number };
    fireChain: { tails: Map<string, unknown> };
    tasks: Map<string, unknown>;
  };
  return {
    runtimes: e.runtimes.size,
    handles: e.handles.size,
    inflight: e.inflight.size,
    claimed: e.claimed.size,
    fireChainTails: e.fireChain.tails.size,
    tasks: e.tasks.size,
  };
}

describe('claim ahead: run counts and max_runs', () => {
  test('a claimed occurrence cancelled by a pause inside the window does not use up max_runs', async () => {
    const h = await harness();
    await h.create('once', '* * * * * *', { maxRuns: 1 });
    await h.advance(600); // 00:00:00.600: 00:00:01 claimed
    await h.api.pauseTask('once', 'a moment', CONTEXT);
    await h.advance(600);
    await h.api.resumeTask('once', CONTEXT);
    await h.advance(3_000);
    await h.engine.idle();
    const task = (await h.api.getTask('once')).task;
    assert.deepEqual(await timeline(h, 'once'), [[1, 'CANCELLED'], [2, 'SUCCEEDED']],
      `max_runs 1 and the action never ran: the cancelled claim was counted (run_count ${task.runCount})`);
    assert.equal(task.runCount, 1);
  });

  test('an occurrence SKIPPED by overlap policy SKIP does not count toward max_runs', async () => {
    const h = await harness();
    h.actions.queue({ takeMs: 1_500 }); // the run of 00:00:01 lasts until 00:00:02.5
    await h.create('skippy', '* * * * * *', { maxRuns: 2, overlapPolicy: 'SKIP' });
    await h.advance(5_000);
    await h.engine.idle();
    const task = (await h.api.getTask('skippy')).task;
    assert.deepEqual(await timeline(h, 'skippy'), [[1, 'SUCCEEDED'], [2, 'SKIPPED'], [3, 'SUCCEEDED']],
      `two runs are allowed, a SKIPPED occurrence is not a run (run_count ${task.runCount})`);
    assert.deepEqual(calledFor(h, 'skippy'), [1, 3]);
  });

  test('next_run_times inside the window counts the claimed occurrence once against max_runs', async () => {
    const h = await harness();
    await h.create('three', '* * * * * *', { maxRuns: 3 });
    await h.advance(600);
    const view = await h.api.getTask('three');
    await h.advance(4_000);
    await h.engine.idle();
    assert.deepEqual(calledFor(h, 'three'), [1, 2, 3], 'three runs');
    assert.deepEqual(view.nextRunTimes.map((t) => (t - T0) / 1000), [1, 2, 3],
      `next_run_times at 00:00:00.600 (run_count ${view.task.runCount})`);
  });

  test('max_runs is exact with claims ahead: three runs, then nothing is claimed and next_run_times is empty', async () => {
    const h = await harness();
    await h.create('exact', '* * * * * *', { maxRuns: 3 });
    await h.advance(10_000);
    await h.engine.idle();
    assert.deepEqual(await timeline(h, 'exact'), [[1, 'SUCCEEDED'], [2, 'SUCCEEDED'], [3, 'SUCCEEDED']]);
    const view = await h.api.getTask('exact');
    assert.equal(view.task.runCount, 3);
    assert.deepEqual(view.nextRunTimes, []);
  });
});

describe('claim ahead: a claim write that fails or is slow', () => {
  test('a claim write the store refuses: the occurrence is not silently dropped', async () => {
    const h = await harness();
    let refused = 0;
    h.failWrite = (e) => (e.state === 'PENDING' && e.scheduledTime === at(1) && refused++ === 0 ? new Error('store unavailable (injected)') : undefined);
    await h.create('flaky', '* * * * * *');
    await h.advance(2_500);
    await h.engine.idle();
    assert.equal(refused >= 1, true, 'the claim of 00:00:01 was refused');
    const line = await timeline(h, 'flaky');
    assert.ok(line.some(([s]) => s === 1),
      `00:00:01 has no execution at all (neither run nor recorded as not run); history: ${JSON.stringify(line)}, errors: ${h.errors.map(String).join('; ')}`);
  });

  test('a graceful stop while the claim is being written: the claimed occurrence still runs at its time', async () => {
    const h = await harness();
    const held = gate();
    h.holdWrite = (e) => (e.state === 'PENDING' && e.scheduledTime === at(1) ? held.promise : undefined);
    await h.create('inflight', '* * * * * *');
    await h.advance(500); // claim of 00:00:01 submitted, held
    const stopping = h.engine.stop(5_000);
    await h.advance(100);
    held.open();
    await h.advance(400);
    await h.advance(100);
    await stopping;
    const [first] = await h.finals('inflight');
    assert.deepEqual([first?.state, first?.error], ['SUCCEEDED', ''],
      'a claim that landed during the grace is a claimed occurrence like any other');
    assert.equal(first?.startTime, at(1));
  });

  test('stop without grace while the claim is being written: no action, nothing left PENDING', async () => {
    const h = await harness();
    const held = gate();
    h.holdWrite = (e) => (e.state === 'PENDING' && e.scheduledTime === at(1) ? held.promise : undefined);
    await h.create('abrupt', '* * * * * *');
    await h.advance(500);
    const stopping = h.engine.stop(0);
    held.open();
    await stopping;
    assert.deepEqual(storyAt(h, 'abrupt', 1), ['PENDING', 'CANCELLED']);
    assert.equal(h.actions.calls.length, 0);
    assert.equal(internals(h.engine).claimed, 0);
  });

  test('a pause while the claim is being written: CANCELLED as paused, the action never runs', async () => {
    const h = await harness();
    const held = gate();
    h.holdWrite = (e) => (e.state === 'PENDING' && e.scheduledTime === at(1) ? held.promise : undefined);
    await h.create('pausing', '* * * * * *');
    await h.advance(500);
    await h.api.pauseTask('pausing', 'maintenance', CONTEXT);
    held.open();
    await h.advance(1_500);
    await h.engine.idle();
    const [first] = await h.finals('pausing');
    assert.equal(h.actions.calls.length, 0);
    assert.deepEqual([first?.state, first?.error], ['CANCELLED', 'cancelled: the task was paused']);
  });

  test('a delete while the claim is being written: CANCELLED as deleted, the action never runs, nothing kept', async () => {
    const h = await harness();
    const held = gate();
    h.holdWrite = (e) => (e.state === 'PENDING' && e.scheduledTime === at(1) ? held.promise : undefined);
    await h.create('gone', '* * * * * *');
    await h.advance(500);
    await h.api.deleteTask('gone', '', CONTEXT);
    held.open();
    await h.advance(1_500);
    await h.engine.idle();
    assert.deepEqual(storyAt(h, 'gone', 1), ['PENDING', 'CANCELLED']);
    assert.equal(h.events.find((e) => e.execution.state === 'CANCELLED')!.execution.error, 'cancelled: the task was deleted');
    assert.equal(h.actions.calls.length, 0);
    assert.equal(internals(h.engine).claimed, 0);
  });

  test('next_run_times while the claim is being written still shows the occurrence being claimed', async () => {
    const h = await harness();
    const held = gate();
    h.holdWrite = (e) => (e.state === 'PENDING' && e.scheduledTime === at(1) ? held.promise : undefined);
    await h.create('peek', '* * * * * *');
    await h.advance(500);
    const during = (await h.api.getTask('peek')).nextRunTimes.map((t) => (t - T0) / 1000);
    held.open();
    await h.advance(100);
    const afterClaim = (await h.api.getTask('peek')).nextRunTimes.map((t) => (t - T0) / 1000);
    assert.deepEqual(afterClaim, [1, 2, 3, 4, 5]);
    assert.deepEqual(during, [1, 2, 3, 4, 5], 'the occurrence is still to come while its claim is written');
  });

  test('a pause and a resume while the claim is being written: the occurrence runs once at its time', async () => {
    const h = await harness();
    const held = gate();
    h.holdWrite = (e) => (e.state === 'PENDING' && e.scheduledTime === at(1) ? held.promise : undefined);
    await h.create('blink', '* * * * * *');
    await h.advance(500);
    await h.api.pauseTask('blink', 'a blink', CONTEXT);
    await h.advance(100);
    await h.api.resumeTask('blink', CONTEXT);
    held.open();
    await h.advance(1_400);
    await h.engine.idle();
    assert.deepEqual(await timeline(h, 'blink'), [[1, 'SUCCEEDED'], [2, 'SUCCEEDED']]);
    assert.equal(h.actions.calls[0]!.at, at(1));
  });
});

describe('claim ahead: stalls and clock jumps', () => {
  test('a stall past the misfire threshold after the claim: the claimed occurrence follows the misfire policy', async () => {
    const h = await harness();
    await h.create('stalled', '* * * * * *', { misfirePolicy: 'SKIP' });
    await h.advance(600); // 00:00:01 claimed
    await h.jump(10_000); // the event loop stalls until 00:00:10.600
    await h.advance(1_000);
    await h.engine.idle();
    const late = h.actions.calls.filter((c) => Date.parse(c.headers['Cronplane-Scheduled-Time']!) < at(11));
    assert.deepEqual(late.map((c) => [(Date.parse(c.headers['Cronplane-Scheduled-Time']!) - T0) / 1000, (c.at - T0) / 1000]), [],
      'misfire policy SKIP: nothing found more than 5 s late runs, the claimed one included');
    const line = await timeline(h, 'stalled');
    assert.deepEqual(line.filter(([s]) => s <= 10).map(([, state]) => state), Array(10).fill('MISSED'));
  });

  test('a short stall (under the misfire threshold) after the claim: each occurrence once, none early', async () => {
    const h = await harness();
    await h.create('hiccup', '* * * * * *');
    await h.advance(600);
    await h.jump(2_000); // until 00:00:02.600
    await h.advance(2_000);
    await h.engine.idle();
    assert.deepEqual(await timeline(h, 'hiccup'), [[1, 'SUCCEEDED'], [2, 'SUCCEEDED'], [3, 'SUCCEEDED'], [4, 'SUCCEEDED']]);
    assert.deepEqual(calledFor(h, 'hiccup'), [1, 2, 3, 4]);
    for (const c of h.actions.calls) assert.ok(c.at >= Date.parse(c.headers['Cronplane-Scheduled-Time']!), 'never before its time');
  });

  test('many tasks over a minute with changes in between: every action at exactly its time, every occurrence once', async () => {
    const h = await harness();
    const crons: Record<string, string> = { every: '* * * * * *', two: '*/2 * * * * *', three: '*/3 * * * * *', half: '30 * * * * *', odd: '1-59/2 * * * * *' };
    for (const [name, cron] of Object.entries(crons)) await h.create(name, cron);
    for (let i = 0; i < 65; i++) {
      await h.advance(700);
      if (i % 7 === 3) {
        // a change that keeps the schedule, inside the window of 'every'
        const t = (await h.api.getTask('every')).task;
        await h.api.updateTask({ spec: { ...h.spec('every', '* * * * * *'), description: `change ${i}` }, paths: ['description'], etag: t.etag }, CONTEXT);
      }
      await h.advance(300);
    }
    await h.engine.idle();
    for (const c of h.actions.calls) {
      assert.equal(c.at, Date.parse(c.headers['Cronplane-Scheduled-Time']!), `${c.headers['Cronplane-Task']} started at its time`);
    }
    for (const name of Object.keys(crons)) {
      const line = await timeline(h, name);
      assert.ok(line.every(([, s]) => s === 'SUCCEEDED'), `${name}: ${JSON.stringify(line.filter(([, s]) => s !== 'SUCCEEDED'))}`);
      const seconds = calledFor(h, name);
      assert.deepEqual(seconds, line.map(([s]) => s), `${name}: one action per occurrence`);
      const expected = (await h.api.previewSchedule({ cron: crons[name]!, timeZone: '' }, T0, 100))
        .filter((t) => t <= at(65)).map((t) => (t - T0) / 1000);
      assert.deepEqual(seconds, expected, `${name}: no occurrence missed`);
    }
  });
});

describe('claim ahead: overlap policies', () => {
  test('BUFFER_ONE on the fire path: the run it waits for ends while its claim is written; it still starts', async () => {
    const h = await harness();
    h.actions.queue({ takeMs: 1_500 }); // 00:00:01 runs until 00:00:02.5
    let refused = 0;
    // The claim ahead of 00:00:02 fails once, so it is fired at its time the ordinary way ...
    h.failWrite = (e) => (e.state === 'PENDING' && e.scheduledTime === at(2) && refused++ === 0 ? new Error('store unavailable (injected)') : undefined);
    // ... where it is buffered behind 00:00:01, and its claim is written slowly: past the end of 00:00:01.
    const held = gate();
    h.holdWrite = (e) => (e.state === 'PENDING' && e.scheduledTime === at(2) && refused > 0 ? held.promise : undefined);
    await h.create('queue', '* * * * * *', { overlapPolicy: 'BUFFER_ONE' });
    await h.advance(2_600);
    held.open();
    await h.advance(1_000);
    await h.engine.idle();
    assert.deepEqual((await timeline(h, 'queue')).slice(0, 3), [[1, 'SUCCEEDED'], [2, 'SUCCEEDED'], [3, 'SUCCEEDED']],
      'the buffered occurrence starts once its claim is stored, and later ones are not skipped behind it');
  });

  test('BUFFER_ONE on the fire path: a pause while its claim is written cancels it, it never runs', async () => {
    const h = await harness();
    h.actions.queue({ takeMs: 1_500 });
    let refused = 0;
    h.failWrite = (e) => (e.state === 'PENDING' && e.scheduledTime === at(2) && refused++ === 0 ? new Error('store unavailable (injected)') : undefined);
    const held = gate();
    h.holdWrite = (e) => (e.state === 'PENDING' && e.scheduledTime === at(2) && refused > 0 ? held.promise : undefined);
    await h.create('paused-queue', '* * * * * *', { overlapPolicy: 'BUFFER_ONE' });
    await h.advance(2_600); // 00:00:01 has ended; 00:00:02's claim is still being written
    await h.api.pauseTask('paused-queue', '', CONTEXT);
    held.open();
    await h.advance(1_000);
    await h.engine.idle();
    assert.equal(h.actions.calls.length, 1, 'only 00:00:01 ran');
    const second = (await h.finals('paused-queue')).find((e) => e.scheduledTime === at(2));
    assert.deepEqual([second?.state, second?.error], ['CANCELLED', 'cancelled: the task was paused']);
  });

  test('SKIP: a claimed occurrence that overlaps is SKIPPED (PENDING -> SKIPPED), the next runs at its time', async () => {
    const h = await harness();
    h.actions.queue({ takeMs: 1_500 });
    await h.create('skip', '* * * * * *', { overlapPolicy: 'SKIP' });
    await h.advance(3_500);
    await h.engine.idle();
    assert.deepEqual(storyAt(h, 'skip', 2), ['PENDING', 'SKIPPED']);
    assert.deepEqual(await timeline(h, 'skip'), [[1, 'SUCCEEDED'], [2, 'SKIPPED'], [3, 'SUCCEEDED']]);
    assert.equal(h.actions.calls[1]!.at, at(3));
  });

  test('SKIP: an execution whose action has ended overlaps nothing while its final state is still being stored', async () => {
    const h = await harness();
    const held = gate();
    h.holdWrite = (e) => (e.state === 'SUCCEEDED' && e.scheduledTime === at(1) ? held.promise : undefined);
    await h.create('slow-store', '* * * * * *', { overlapPolicy: 'SKIP' });
    await h.advance(2_100); // 1 ran at 1.0 and ended; its SUCCEEDED is held past 2.0
    // Its action ended at once, so its RUNNING goes in the same write as its final state: both held.
    assert.deepEqual(storyAt(h, 'slow-store', 1), ['PENDING'], 'the final state of 1 is not stored yet');
    assert.deepEqual(calledFor(h, 'slow-store'), [1, 2], '2 ran at its time: 1 no longer ran');
    held.open();
    await h.advance(1_000);
    await h.engine.idle();
    assert.deepEqual(await timeline(h, 'slow-store'), [[1, 'SUCCEEDED'], [2, 'SUCCEEDED'], [3, 'SUCCEEDED']]);
    assert.deepEqual(storyAt(h, 'slow-store', 1), ['PENDING', 'RUNNING', 'SUCCEEDED']);
  });

  test('BUFFER_ONE: a claimed occurrence waits PENDING and starts when the running one ends; one buffered at most', async () => {
    const h = await harness();
    h.actions.queue({ takeMs: 1_500 }, { takeMs: 1_500 });
    await h.create('buffer', '* * * * * *', { overlapPolicy: 'BUFFER_ONE' });
    await h.advance(4_200);
    await h.engine.idle();
    // 1 runs 1.0-2.5; 2 buffered, runs 2.5-4.0; 3 buffered at 3.0 behind it; 4 skipped (3 buffered) at 4.0
    // unless 2 ended first: both orders at 4.0 are fine, but never two buffered and never two running.
    const line = await timeline(h, 'buffer');
    assert.deepEqual(line.slice(0, 2), [[1, 'SUCCEEDED'], [2, 'SUCCEEDED']]);
    assert.deepEqual(h.actions.calls.slice(0, 3).map((c) => (c.at - T0) / 1000), [1, 2.5, 4]);
    assert.deepEqual(storyAt(h, 'buffer', 2), ['PENDING', 'RUNNING', 'SUCCEEDED'], 'claimed PENDING, buffered as it was, then run');
    const seconds = calledFor(h, 'buffer');
    assert.deepEqual(seconds, [...new Set(seconds)], 'no occurrence run twice');
  });

  test('CANCEL_PREVIOUS: the claimed occurrence cancels the running one and starts exactly at its time', async () => {
    const h = await harness();
    h.actions.queue({ hang: true });
    await h.create('supersede', '* * * * * *', { overlapPolicy: 'CANCEL_PREVIOUS' });
    await h.advance(2_100);
    await h.engine.idle();
    const line = await h.finals('supersede');
    assert.equal(line[0]!.state, 'CANCELLED');
    assert.match(line[0]!.error, /superseded by execution/);
    assert.equal(line[1]!.state, 'SUCCEEDED');
    assert.deepEqual(h.actions.calls.map((c) => c.at - T0), [1000, 2000]);
  });
});

describe('claim ahead: changes inside the window', () => {
  test('two changes that keep the occurrence: it runs once at its time with the latest action', async () => {
    const h = await harness();
    await h.create('twice', '* * * * * *');
    await h.advance(600);
    let t = (await h.api.getTask('twice')).task;
    await h.api.updateTask({ spec: { ...h.spec('twice', '* * * * * *'), description: 'one' }, paths: ['description'], etag: t.etag }, CONTEXT);
    await h.advance(100);
    t = (await h.api.getTask('twice')).task;
    const action = { kind: 'natsPublish' as const, subject: 'jobs.twice.v2', payload: new Uint8Array(), headers: {}, jetstream: false };
    await h.api.updateTask({ spec: { ...h.spec('twice', '* * * * * *'), action }, paths: ['action'], etag: t.etag }, CONTEXT);
    await h.advance(300);
    await h.engine.idle();
    assert.deepEqual(storyAt(h, 'twice', 1), ['PENDING', 'RUNNING', 'SUCCEEDED']);
    assert.deepEqual(h.actions.calls.map((c) => [c.at - T0, c.action.kind === 'natsPublish' && c.action.subject]), [[1000, 'jobs.twice.v2']]);
  });

  test('a schedule change and its revert inside the window: the claim is CANCELLED once, the next occurrence runs', async () => {
    const h = await harness();
    await h.create('flip', '* * * * * *');
    await h.advance(600);
    let t = (await h.api.getTask('flip')).task;
    await h.api.updateTask({ spec: h.spec('flip', '*/5 * * * * *'), paths: ['schedule'], etag: t.etag }, CONTEXT);
    await h.advance(100);
    t = (await h.api.getTask('flip')).task;
    await h.api.updateTask({ spec: h.spec('flip', '* * * * * *'), paths: ['schedule'], etag: t.etag }, CONTEXT);
    await h.advance(2_300);
    await h.engine.idle();
    assert.deepEqual(await timeline(h, 'flip'), [[1, 'CANCELLED'], [2, 'SUCCEEDED'], [3, 'SUCCEEDED']]);
    assert.deepEqual(calledFor(h, 'flip'), [2, 3]);
  });

  test('RunTask inside the window: the manual run starts now, the claimed occurrence still runs at its time', async () => {
    const h = await harness();
    await h.create('manual', '* * * * * *');
    await h.advance(600);
    const manual = await h.api.runTask('manual', CONTEXT);
    assert.equal(manual.state, 'RUNNING');
    await h.advance(400);
    await h.engine.idle();
    assert.deepEqual(h.actions.calls.map((c) => c.at - T0), [600, 1000]);
    assert.deepEqual(storyAt(h, 'manual', 1), ['PENDING', 'RUNNING', 'SUCCEEDED']);
  });
});

describe('claim ahead: pause_after_failures', () => {
  test('a failure that pauses the task inside the window cancels the claimed occurrence as paused', async () => {
    const h = await harness();
    h.actions.queue({ takeMs: 700, then: { fail: 'boom' } }); // 00:00:01 fails at 00:00:01.700
    await h.create('fragile', '* * * * * *', { pauseAfterFailures: 1 });
    await h.advance(3_000);
    await h.engine.idle();
    const line = await h.finals('fragile');
    assert.deepEqual(line.map((e) => [(e.scheduledTime - T0) / 1000, e.state, e.error]), [[1, 'FAILED', 'boom'], [2, 'CANCELLED', 'cancelled: the task was paused']]);
    assert.equal(h.actions.calls.length, 1);
    assert.equal((await h.api.getTask('fragile')).task.state, 'PAUSED');
  });
});

describe('claim ahead: stop and restart', () => {
  test('a graceful stop whose grace ends before the claimed time: CANCELLED as shutting down, never started', async () => {
    const h = await harness();
    await h.create('short', '* * * * * *');
    await h.advance(600);
    const stopping = h.engine.stop(100);
    await h.advance(100);
    await stopping;
    await h.advance(1_000);
    assert.deepEqual(storyAt(h, 'short', 1), ['PENDING', 'CANCELLED']);
    assert.equal(h.events.at(-1)!.execution.error, 'cancelled: the service is shutting down');
    assert.equal(h.actions.calls.length, 0);
  });

  test('a graceful stop with several tasks claimed: each starts at its own time within the grace', async () => {
    const h = await harness();
    await h.create('a', '* * * * * *');
    await h.create('b', '*/2 * * * * *');
    await h.advance(1_600); // a:2 and b:2 claimed
    const stopping = h.engine.stop(5_000);
    await h.advance(400);
    await h.advance(1_000);
    await stopping;
    assert.deepEqual(await timeline(h, 'a'), [[1, 'SUCCEEDED'], [2, 'SUCCEEDED']]);
    assert.deepEqual(await timeline(h, 'b'), [[2, 'SUCCEEDED']]);
    assert.ok(h.actions.calls.every((c) => c.at === Date.parse(c.headers['Cronplane-Scheduled-Time']!)));
    assert.deepEqual(internals(h.engine).claimed, 0);
  });

  test('a crash after the claim, the task paused (in the store) while down, restarted before its time: CANCELLED, never run', async () => {
    const h = await harness();
    await h.create('whiledown', '* * * * * *');
    await h.advance(600);
    await h.store.close();
    await h.engine.stop(0).catch(() => undefined);
    // Another process (a CLI against the same file, a restore) pauses the task while the service is down.
    const { SqliteStore } = await import('../../src/store/sqlite/sqlite-store.js');
    const { join } = await import('node:path');
    const other = SqliteStore.open(join(h.dir, 'cronplane.db'), { writerThread: false });
    const stored = (await other.getTask('whiledown'))!;
    await other.replaceTask({ ...stored, state: 'PAUSED', pausedReason: 'while down', etag: 'x' }, stored.etag);
    await other.close();
    await h.start();
    await h.advance(2_000);
    await h.engine.idle();
    const line = await h.finals('whiledown');
    assert.deepEqual(line.map((e) => [(e.scheduledTime - T0) / 1000, e.state, e.error]), [[1, 'CANCELLED', 'cancelled: the task changed while the service was stopped']]);
    assert.equal(h.actions.calls.length, 0);
  });

  test('restart adoption: a claim of another node is LOST, this node\'s own runs at its time', async () => {
    const h = await harness();
    await h.create('mine', '* * * * * *');
    await h.advance(600);
    await h.store.close();
    await h.engine.stop(0).catch(() => undefined);
    const { SqliteStore } = await import('../../src/store/sqlite/sqlite-store.js');
    const { join } = await import('node:path');
    const other = SqliteStore.open(join(h.dir, 'cronplane.db'), { writerThread: false });
    const task = (await other.getTask('mine'))!;
    await other.createTask({ ...task, name: 'theirs' });
    const foreign: Execution = { id: '019b0000-0000-7000-8000-000000000001', taskName: 'theirs', scheduledTime: at(1), startTime: undefined, endTime: undefined, state: 'PENDING', attempt: 0, trigger: 'SCHEDULE', error: '', node: 'other-node', attempts: [], output: '' };
    await other.recordExecution(foreign, { id: '019b0000-0000-7000-8000-000000000002', time: at(0.6) }, { claim: true });
    await other.close();
    await h.start();
    await h.advance(1_400);
    await h.engine.idle();
    assert.deepEqual(await timeline(h, 'mine'), [[1, 'SUCCEEDED'], [2, 'SUCCEEDED']]);
    assert.deepEqual((await timeline(h, 'theirs')).slice(0, 2), [[1, 'LOST'], [2, 'SUCCEEDED']]);
  });
});

describe('claim ahead: bookkeeping does not grow', () => {
  test('after claims, cancels, stops of deleted tasks nothing is kept for them', async () => {
    const h = await harness();
    for (let i = 0; i < 10; i++) await h.create(`churn-${i}`, '* * * * * *');
    await h.advance(1_600); // each ran once and has its next occurrence claimed
    for (let i = 0; i < 10; i++) await h.api.deleteTask(`churn-${i}`, '', CONTEXT);
    await h.advance(2_000);
    await h.engine.idle();
    assert.deepEqual(internals(h.engine), { runtimes: 0, handles: 0, inflight: 0, claimed: 0, fireChainTails: 0, tasks: 0 });
  });
});
