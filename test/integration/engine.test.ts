import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { settle } from '../../src/engine/fake-clock.js';
import { CONTEXT, harnessPerTest } from '../helpers/engine-harness.js';

const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);
const harness = harnessPerTest();

describe('engine on a fake clock with a real SQLite store', () => {
  test('a per-second task fires once per second at the exact scheduled times', async () => {
    const h = await harness();
    await h.create('tick', '* * * * * *');
    await h.advance(5_000);
    const finals = await h.finals('tick');
    assert.deepEqual(finals.map((e) => e.scheduledTime - T0), [1000, 2000, 3000, 4000, 5000]);
    assert.ok(finals.every((e) => e.state === 'SUCCEEDED' && e.trigger === 'SCHEDULE' && e.attempt === 1));
    assert.ok(finals.every((e) => e.startTime === e.scheduledTime), 'no lateness on a fake clock');
    assert.deepEqual(h.statesOf('tick').slice(0, 3), ['PENDING', 'RUNNING', 'SUCCEEDED']);
    const seqs = h.events.map((e) => e.sequence);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'event sequences increase');
    assert.equal(h.actions.calls[0]!.headers['Cronplane-Scheduled-Time'], '2026-01-01T00:00:01.000Z');
    assert.equal(h.actions.calls[0]!.headers['Idempotency-Key'], finals[0]!.id);
    assert.equal(h.actions.calls[0]!.headers['Cronplane-Attempt'], '1');
  });

  test('pause stops the fires, resume starts again from now without catching up', async () => {
    const h = await harness();
    await h.create('pausable', '* * * * * *');
    await h.advance(2_000);
    await h.api.pauseTask('pausable', 'maintenance', CONTEXT);
    await h.advance(10_000);
    assert.equal((await h.finals('pausable')).length, 2);
    const paused = await h.api.getTask('pausable');
    assert.equal(paused.task.state, 'PAUSED');
    assert.equal(paused.task.pausedReason, 'maintenance');
    assert.deepEqual(paused.nextRunTimes, []);
    await h.api.resumeTask('pausable', CONTEXT);
    await h.advance(3_000);
    const finals = await h.finals('pausable');
    assert.deepEqual(finals.map((e) => (e.scheduledTime - T0) / 1000), [1, 2, 13, 14, 15]);
    assert.ok(finals.every((e) => e.state === 'SUCCEEDED'));
  });

  test('RunTask runs now as MANUAL, also when paused; delete stops the task for good', async () => {
    const h = await harness();
    await h.create('manual', '0 0 * * *', { state: 'PAUSED' });
    const exec = await h.api.runTask('manual', CONTEXT);
    assert.equal(exec.trigger, 'MANUAL');
    await h.engine.idle();
    const stored = await h.api.getExecution(exec.id);
    assert.equal(stored.state, 'SUCCEEDED');
    assert.equal((await h.api.getTask('manual')).lastExecution?.id, exec.id);
    await h.api.deleteTask('manual', '', CONTEXT);
    await assert.rejects(h.api.getTask('manual'), { name: 'TaskNotFoundError' });
    await h.advance(48 * 3_600_000);
    assert.equal((await h.finals('manual')).length, 1);
    const again = await h.create('manual', '0 0 * * *', { state: 'PAUSED' });
    assert.equal(again.lastExecution, undefined, "a re-created task does not show its predecessor's run");
  });

  test('retries: fails twice then succeeds is one execution, attempt 3, an event per attempt', async () => {
    const h = await harness();
    h.actions.queue({ fail: 'boom 1' }, { fail: 'boom 2' }, { ok: 'fine' });
    await h.create('flaky', '0 * * * * *', {
      retryPolicy: { maxAttempts: 5, initialBackoffMs: 1_000, maxBackoffMs: 10_000, multiplier: 2, jitter: 0 },
    });
    await h.advance(60_000 + 1_000 + 2_000);
    const [exec] = await h.finals('flaky');
    assert.equal(exec!.state, 'SUCCEEDED');
    assert.equal(exec!.attempt, 3);
    assert.equal(exec!.output, 'fine');
    assert.deepEqual(exec!.attempts.map((a) => [a.number, a.state, a.error]), [
      [1, 'FAILED', 'boom 1'], [2, 'FAILED', 'boom 2'], [3, 'SUCCEEDED', ''],
    ]);
    assert.deepEqual(exec!.attempts.map((a) => a.startTime - T0), [60_000, 61_000, 63_000], 'backoff 1s then 2s');
    assert.deepEqual(h.statesOf('flaky'), ['PENDING', 'RUNNING', 'RETRYING', 'RUNNING', 'RETRYING', 'RUNNING', 'SUCCEEDED']);
    assert.deepEqual(h.actions.calls.map((c) => c.headers['Cronplane-Attempt']), ['1', '2', '3']);
  });

  test('an attempt past its deadline is TIMED_OUT and its late result changes nothing', async () => {
    const h = await harness();
    h.actions.queue({ hang: true });
    await h.create('slow', '0 * * * * *', { attemptDeadlineMs: 5_000 });
    await h.advance(65_000);
    const [exec] = await h.finals('slow');
    assert.equal(exec!.state, 'TIMED_OUT');
    assert.match(exec!.error, /deadline of 5000 ms/);
    assert.equal(exec!.endTime! - exec!.startTime!, 5_000);
    assert.equal(h.actions.calls[0]!.signal.aborted, true, 'the action saw its signal abort');
  });

  test('overlap SKIP records SKIPPED with the reason', async () => {
    const h = await harness();
    h.actions.queue({ takeMs: 2_500 });
    await h.create('skip', '* * * * * *', { overlapPolicy: 'SKIP' });
    await h.advance(3_600);
    await settle();
    const finals = await h.finals('skip');
    assert.deepEqual(finals.map((e) => [(e.scheduledTime - T0) / 1000, e.state]), [[1, 'SUCCEEDED'], [2, 'SKIPPED'], [3, 'SKIPPED']]);
    assert.match(finals[1]!.error, /overlap policy SKIP: execution .* still running/);
  });

  test('overlap BUFFER_ONE runs one right after, skips the rest', async () => {
    const h = await harness();
    h.actions.queue({ takeMs: 2_500 });
    await h.create('buffer', '* * * * * *', { overlapPolicy: 'BUFFER_ONE' });
    await h.advance(3_600);
    const finals = await h.finals('buffer');
    const byTime = Object.fromEntries(finals.map((e) => [(e.scheduledTime - T0) / 1000, e]));
    assert.equal(byTime[1]!.state, 'SUCCEEDED');
    assert.equal(byTime[2]!.state, 'SUCCEEDED');
    assert.equal(byTime[2]!.startTime! - T0, 3_500, 'buffered run starts when the first ends');
    assert.equal(byTime[3]!.state, 'SKIPPED');
  });

  test('overlap CANCEL_PREVIOUS cancels the running one; ALLOW runs both', async () => {
    const h = await harness();
    h.actions.queue({ hang: true });
    await h.create('cancelprev', '* * * * * *', { overlapPolicy: 'CANCEL_PREVIOUS' });
    await h.advance(2_000);
    const finals = await h.finals('cancelprev');
    assert.equal(finals[0]!.state, 'CANCELLED');
    assert.match(finals[0]!.error, /superseded by execution/);
    assert.equal(finals[1]!.state, 'SUCCEEDED');

    const h2 = await harness();
    h2.actions.queue({ takeMs: 1_500 });
    await h2.create('allow', '* * * * * *', { overlapPolicy: 'ALLOW' });
    await h2.advance(1_000);
    await h2.advance(1_000);
    assert.equal(h2.actions.calls.length, 2, 'second started while the first still ran');
    await h2.advance(1_000);
    assert.ok((await h2.finals('allow')).every((e) => e.state === 'SUCCEEDED'));
  });

  test('CancelExecution aborts a running execution and answers with CANCELLED', async () => {
    const h = await harness();
    h.actions.queue({ hang: true });
    await h.create('cancelme', '0 0 * * *');
    const started = await h.api.runTask('cancelme', CONTEXT);
    await settle();
    const cancelled = await h.api.cancelExecution(started.id, CONTEXT);
    assert.equal(cancelled.state, 'CANCELLED');
    assert.equal(cancelled.error, 'cancelled by request');
    await assert.rejects(h.api.cancelExecution(started.id, CONTEXT), { name: 'FailedPreconditionError' });
    await assert.rejects(h.api.cancelExecution('nope', CONTEXT), { name: 'ExecutionNotFoundError' });
  });

  test('max_runs, end_time and pause_after_failures', async () => {
    const h = await harness();
    await h.create('limited', '* * * * * *', { maxRuns: 3 });
    await h.create('ending', '* * * * * *', { endTime: T0 + 2_500 });
    h.actions.queue({ fail: 'x' }, { fail: 'x' }); // the first two calls (limited@1, ending@1)
    await h.create('fragile', '0 0 * * *', { pauseAfterFailures: 2 });
    await h.advance(10_000);
    assert.equal((await h.finals('limited')).length, 3);
    assert.equal((await h.api.getTask('limited')).task.runCount, 3);
    assert.deepEqual((await h.api.getTask('limited')).nextRunTimes, []);
    assert.equal((await h.finals('ending')).length, 2);

    h.actions.queue({ fail: 'down' }, { fail: 'down' });
    await h.api.runTask('fragile', CONTEXT);
    await h.engine.idle();
    await h.api.runTask('fragile', CONTEXT);
    await h.engine.idle();
    const fragile = (await h.api.getTask('fragile')).task;
    assert.equal(fragile.state, 'PAUSED');
    assert.equal(fragile.consecutiveFailures, 2);
    assert.match(fragile.pausedReason, /paused after 2 consecutive failed executions \(last: down\)/);
  });

  test('restart: an occurrence that already ran is not run again; executions left running become LOST', async () => {
    const h = await harness();
    h.actions.queue({ ok: 'a' }, { hang: true });
    await h.create('survivor', '* * * * * *', { overlapPolicy: 'ALLOW' });
    await h.advance(2_000);
    const runningId = h.events.find((e) => e.execution.state === 'RUNNING' && e.execution.scheduledTime === T0 + 2_000)!.execution.id;
    // Simulate a crash: the store is closed with the execution still RUNNING.
    await h.store.close();
    await h.engine.stop(0).catch(() => undefined);
    await h.start();
    const lost = await h.api.getExecution(runningId);
    assert.equal(lost.state, 'LOST');
    assert.match(lost.error, /stopped while it was running/);
    await h.advance(2_000);
    const finals = await h.finals('survivor');
    const times = finals.map((e) => (e.scheduledTime - T0) / 1000);
    assert.deepEqual(times, [1, 2, 3, 4], 'each occurrence exactly once across the restart');
  });
});

test('WatchExecutions with after_sequence 0 replays every kept event, then goes on live', async () => {
  const h = await harness();
  await h.create('replay', '0 0 * * *');
  await h.api.runTask('replay', CONTEXT);
  await h.engine.idle();
  const abort = new AbortController();
  const seen: number[] = [];
  const reading = (async () => {
    for await (const e of h.api.watchExecutions({ taskNames: [], states: [], afterSequence: 0 }, abort.signal)) {
      seen.push(e.sequence);
      if (seen.length === 4) abort.abort();
    }
  })();
  await settle();
  await h.api.runTask('replay', CONTEXT); // live, after the replay
  await h.engine.idle();
  await reading;
  assert.deepEqual(seen, [1, 2, 3, 4]); // a manual run waits for nothing: RUNNING, SUCCEEDED
});

describe('misfire after downtime (per-minute task, ten minutes down)', () => {
  async function downtime(policy: 'RUN_ONCE' | 'SKIP' | 'RUN_ALL', catchupWindowMs = 60_000) {
    const h = await harness();
    await h.create('minutely', '0 * * * * *', { misfirePolicy: policy, catchupWindowMs });
    await h.advance(60_000); // runs at 00:01:00
    await h.engine.idle();
    await h.halt();
    await h.clock.advance(10 * 60_000 + 30_000); // down from 00:01:00 to 00:11:30
    await h.start();
    await h.advance(0); // the past-due occurrence is found by the first timer
    await h.engine.idle();
    const after = (await h.finals('minutely')).filter((e) => e.scheduledTime > T0 + 60_000);
    return { h, after };
  }

  test('RUN_ONCE: exactly one CATCHUP execution, MISSED for the rest', async () => {
    const { after } = await downtime('RUN_ONCE');
    assert.equal(after.length, 10);
    const caught = after.filter((e) => e.trigger === 'CATCHUP');
    assert.equal(caught.length, 1);
    assert.equal(caught[0]!.scheduledTime, T0 + 11 * 60_000);
    assert.equal(caught[0]!.state, 'SUCCEEDED');
    assert.equal(after.filter((e) => e.state === 'MISSED').length, 9);
  });

  test('SKIP: no run, all MISSED', async () => {
    const { after, h } = await downtime('SKIP');
    assert.equal(after.length, 10);
    assert.ok(after.every((e) => e.state === 'MISSED'));
    assert.equal(h.actions.calls.length, 1);
  });

  test('RUN_ALL: all of them run, within the window', async () => {
    const { after } = await downtime('RUN_ALL', 15 * 60_000);
    assert.equal(after.length, 10);
    assert.ok(after.every((e) => e.trigger === 'CATCHUP' && e.state === 'SUCCEEDED'));
  });

  test('the schedule goes on normally after the catch-up', async () => {
    const { h } = await downtime('RUN_ONCE');
    await h.advance(60_000);
    const last = (await h.finals('minutely')).at(-1)!;
    assert.equal(last.scheduledTime, T0 + 12 * 60_000);
    assert.equal(last.trigger, 'SCHEDULE');
  });
});
