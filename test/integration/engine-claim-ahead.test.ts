import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ActionContext, ActionResult } from '../../src/actions/action.js';
import type { ActionSpec } from '../../src/domain/task.js';
import type { TimerHandle } from '../../src/engine/clock.js';
import { FakeClock } from '../../src/engine/fake-clock.js';
import { CONTEXT, EngineHarness, harnessPerTest } from '../helpers/engine-harness.js';
import { ScriptedActions } from '../helpers/scripted-actions.js';

// Occurrences are claimed (stored PENDING) 500 ms before their time, so at the time the action
// starts without a store write in between. These tests pin what that means around the edges.

const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);
const harness = harnessPerTest();

/** Every stored state of the execution of `task` scheduled at T0 + `second` s, in order. */
function storyAt(h: EngineHarness, task: string, second: number): string[] {
  return h.events
    .filter((e) => e.execution.taskName === task && e.execution.scheduledTime === T0 + second * 1000)
    .map((e) => e.execution.state);
}

describe('claiming occurrences ahead of their time', () => {
  test('claimed PENDING 500 ms ahead; the action starts exactly at the time, then RUNNING is stored', async () => {
    const h = await harness();
    await h.create('early', '* * * * * *');
    await h.advance(499);
    assert.deepEqual(storyAt(h, 'early', 1), [], 'not claimed before 500 ms ahead');
    await h.advance(1); // 00:00:00.500
    assert.deepEqual(storyAt(h, 'early', 1), ['PENDING']);
    assert.equal(h.actions.calls.length, 0, 'claimed, not started');
    const view = await h.api.getTask('early');
    assert.equal(view.nextRunTimes[0], T0 + 1000, 'the claimed occurrence is still the next run');
    await h.advance(500);
    assert.deepEqual(storyAt(h, 'early', 1), ['PENDING', 'RUNNING', 'SUCCEEDED']);
    assert.equal(h.actions.calls.length, 1);
    assert.equal(h.actions.calls[0]!.at, T0 + 1000, 'started at its time, not at the claim');
    const [first] = await h.finals('early');
    assert.equal(first!.startTime, T0 + 1000);
    assert.equal(first!.attempts.length, 1);
  });

  test('pause, delete or a schedule change inside the 500 ms cancel the claimed occurrence; the action never runs', async () => {
    const h = await harness();
    for (const name of ['paused', 'deleted', 'moved', 'kept']) await h.create(name, '* * * * * *');
    await h.advance(600); // all four claimed for 00:00:01
    await h.api.pauseTask('paused', 'maintenance', CONTEXT);
    await h.api.deleteTask('deleted', '', CONTEXT);
    const moved = (await h.api.getTask('moved')).task;
    await h.api.updateTask({ spec: { ...h.spec('moved', '*/5 * * * * *') }, paths: ['schedule'], etag: moved.etag }, CONTEXT);
    const kept = (await h.api.getTask('kept')).task;
    await h.api.updateTask({ spec: { ...h.spec('kept', '* * * * * *'), description: 'still every second' }, paths: ['description'], etag: kept.etag }, CONTEXT);
    await h.advance(400);
    await h.engine.idle();
    const last = async (name: string) => (await h.finals(name)).find((e) => e.scheduledTime === T0 + 1000)!;
    assert.deepEqual([(await last('paused')).state, (await last('paused')).error], ['CANCELLED', 'cancelled: the task was paused']);
    assert.deepEqual([(await last('deleted')).state, (await last('deleted')).error], ['CANCELLED', 'cancelled: the task was deleted']);
    assert.deepEqual([(await last('moved')).state, (await last('moved')).error], ['CANCELLED', 'cancelled: the task changed before this occurrence']);
    assert.equal((await last('kept')).state, 'SUCCEEDED', 'a change that keeps the occurrence keeps the claim');
    assert.deepEqual(h.actions.calls.map((c) => c.action.kind === 'natsPublish' && c.action.subject), ['jobs.kept']);
    await h.advance(4_000); // 00:00:05 is an occurrence of the moved schedule
    assert.deepEqual((await h.finals('moved')).map((e) => [(e.scheduledTime - T0) / 1000, e.state]), [[1, 'CANCELLED'], [5, 'SUCCEEDED']]);
  });

  test('CancelExecution of a claimed occurrence cancels it before it starts', async () => {
    const h = await harness();
    await h.create('cancel', '* * * * * *');
    await h.advance(700);
    const claimed = h.events.find((e) => e.execution.state === 'PENDING')!.execution;
    const cancelled = await h.api.cancelExecution(claimed.id, CONTEXT);
    assert.equal(cancelled.state, 'CANCELLED');
    assert.equal(cancelled.error, 'cancelled by request');
    await h.advance(300);
    await h.engine.idle();
    assert.equal(h.actions.calls.length, 0);
    await assert.rejects(h.api.cancelExecution(claimed.id, CONTEXT), { name: 'FailedPreconditionError' });
    await h.advance(1_000);
    assert.deepEqual((await h.finals('cancel')).map((e) => e.state), ['CANCELLED', 'SUCCEEDED'], 'the next occurrence runs');
  });

  test('a crash after the claim, restarted before its time: the claimed occurrence runs once at its time, not LOST', async () => {
    const h = await harness();
    await h.create('crashy', '* * * * * *');
    await h.advance(600);
    assert.deepEqual(storyAt(h, 'crashy', 1), ['PENDING']);
    // A crash: the store goes away first, so the stopping engine can write nothing more.
    await h.store.close();
    await h.engine.stop(0).catch(() => undefined);
    await h.start();
    await h.advance(400);
    await h.advance(1_000);
    const finals = await h.finals('crashy');
    assert.deepEqual(finals.map((e) => [(e.scheduledTime - T0) / 1000, e.state]), [[1, 'SUCCEEDED'], [2, 'SUCCEEDED']]);
    assert.equal(finals[0]!.startTime, T0 + 1000);
    assert.equal(h.actions.calls.length, 2);
  });

  test('a crash after the claim, restarted after its time: LOST (it may have started), the next occurrence runs', async () => {
    const h = await harness();
    await h.create('late', '* * * * * *');
    await h.advance(600);
    await h.store.close();
    await h.engine.stop(0).catch(() => undefined);
    await h.clock.advance(1_000); // down over 00:00:01
    await h.start();
    await h.advance(1_000);
    const finals = await h.finals('late');
    assert.deepEqual(finals.map((e) => [(e.scheduledTime - T0) / 1000, e.state]), [[1, 'LOST'], [2, 'SUCCEEDED']]);
    assert.match(finals[0]!.error, /stopped while it was pending/);
  });

  test('a graceful stop inside the 500 ms still starts the claimed occurrence at its time and lets it finish', async () => {
    const h = await harness();
    h.actions.queue({ takeMs: 200 });
    await h.create('graceful', '* * * * * *');
    await h.advance(700);
    const stopping = h.engine.stop(5_000);
    await h.advance(300);
    await h.advance(200);
    await stopping;
    const finals = await h.finals('graceful');
    assert.deepEqual(finals.map((e) => [(e.scheduledTime - T0) / 1000, e.state, e.startTime! - T0]), [[1, 'SUCCEEDED', 1000]]);
  });

  test('stop without grace cancels what was claimed ahead', async () => {
    const h = await harness();
    await h.create('abrupt', '* * * * * *');
    await h.advance(700);
    await h.engine.stop(0);
    assert.deepEqual(storyAt(h, 'abrupt', 1), ['PENDING', 'CANCELLED']);
    assert.equal(h.actions.calls.length, 0);
  });
});

describe('store outages around an execution', () => {
  test('a final state the store refuses is retried until stored: SUCCEEDED once, nothing left RUNNING', async () => {
    const h = await harness();
    await h.create('outage', '0 0 * * *');
    let refusals = 0;
    h.failWrite = (e) => (e.state === 'SUCCEEDED' && refusals++ < 3 ? new Error('store unavailable (injected)') : undefined);
    const started = await h.api.runTask('outage', CONTEXT);
    await h.advance(100); // first retry after 100 ms
    await h.advance(200);
    await h.advance(400); // third retry stored
    await h.engine.idle();
    assert.equal(refusals, 4, 'three refused, the fourth stored');
    const stored = await h.api.getExecution(started.id);
    assert.equal(stored.state, 'SUCCEEDED');
    assert.deepEqual(h.events.filter((e) => e.execution.id === started.id).map((e) => e.execution.state), ['RUNNING', 'SUCCEEDED']);
    assert.equal(h.errors.length, 3, 'each refusal reported');
  });

  test('the start of an attempt the store refuses: the action does not run, the execution ends FAILED', async () => {
    const h = await harness();
    await h.create('nostart', '0 0 * * *', { retryPolicy: { maxAttempts: 2, initialBackoffMs: 1_000, maxBackoffMs: 1_000, multiplier: 1, jitter: 0 } });
    h.actions.queue({ fail: 'first attempt fails' });
    const started = await h.api.runTask('nostart', CONTEXT);
    h.failWrite = (e) => (e.state === 'RUNNING' && e.attempt === 2 ? new Error('store unavailable (injected)') : undefined);
    await h.advance(1_000);
    await h.engine.idle();
    const stored = await h.api.getExecution(started.id);
    assert.equal(stored.state, 'FAILED');
    assert.match(stored.error, /the store did not take the start of attempt 2: store unavailable/);
    assert.equal(h.actions.calls.length, 1, 'the second attempt never ran its action');
  });
});

describe('the start of a claimed occurrence, held while its action runs', () => {
  test('an action that ends at once: RUNNING and SUCCEEDED in one write; refused by the store, both are retried together', async () => {
    const h = await harness();
    await h.create('quick', '* * * * * *');
    let refusals = 0;
    h.failWrite = (e) => (e.state === 'SUCCEEDED' && e.scheduledTime === T0 + 1000 && refusals++ < 2 ? new Error('store unavailable (injected)') : undefined);
    await h.advance(1_000); // 1.0: starts, ends at once; the write with both is refused
    assert.deepEqual(storyAt(h, 'quick', 1), ['PENDING'], 'RUNNING was not written on its own');
    await h.advance(100); // retried after 100 ms: refused again
    await h.advance(200); // stored
    await h.engine.idle();
    assert.equal(refusals, 3, 'two refused, the third stored');
    assert.deepEqual(storyAt(h, 'quick', 1), ['PENDING', 'RUNNING', 'SUCCEEDED'], 'each state once, in order');
    const [running, succeeded] = h.events.filter((e) => e.execution.scheduledTime === T0 + 1000).slice(1);
    assert.equal(succeeded!.sequence, running!.sequence + 1, 'one write: consecutive sequences');
    assert.equal(running!.time, T0 + 1000, 'RUNNING keeps the time the action started');
  });

  test('an action still running after the hold: RUNNING is stored while it runs, the final state later', async () => {
    const h = await harness();
    h.actions.queue({ takeMs: 300 });
    await h.create('slow', '* * * * * *');
    await h.advance(1_000); // 1.0: the action starts and takes 300 ms
    assert.equal(h.actions.calls.length, 1);
    assert.deepEqual(storyAt(h, 'slow', 1), ['PENDING', 'RUNNING'], 'stored while the action runs');
    await h.advance(300);
    await h.engine.idle();
    assert.deepEqual(storyAt(h, 'slow', 1), ['PENDING', 'RUNNING', 'SUCCEEDED']);
  });
});

describe('every occurrence due at one instant', () => {
  /** A FakeClock that notes how many actions each timer callback started before it returned. */
  class StartsPerCallbackClock extends FakeClock {
    readonly startsPerCallback: number[] = [];
    actionCalls: () => number = () => 0;

    override setTimer(fn: () => void, delayMs: number): TimerHandle {
      return super.setTimer(() => {
        const before = this.actionCalls();
        fn();
        this.startsPerCallback.push(this.actionCalls() - before);
      }, delayMs);
    }
  }

  test('their actions start in one pass, before the bookkeeping of any of them; one the overlap policy must decide goes the ordinary way', async () => {
    const clock = new StartsPerCallbackClock(T0);
    const h = await new EngineHarness(clock).start();
    clock.actionCalls = () => h.actions.calls.length;
    try {
      // Started at 00:00:01 and still running at 00:00:02: that occurrence is the overlap policy's.
      h.actions.queue({ takeMs: 1_500 });
      await h.create('busy', '* * * * * *', { overlapPolicy: 'SKIP' });
      await h.advance(1_000);
      assert.equal(h.actions.calls.length, 1);
      for (let i = 0; i < 20; i++) await h.create(`due-${i}`, '* * * * * *');
      await h.advance(600); // every occurrence at 00:00:02 claimed
      clock.startsPerCallback.length = 0;
      await h.advance(400);
      assert.equal(h.actions.calls.length, 21, 'the 20 started at 00:00:02, busy did not');
      assert.ok(clock.startsPerCallback.includes(20), `all 20 started inside the engine's timer callback, before any promise of theirs ran: ${clock.startsPerCallback.join(', ')}`);
      assert.deepEqual(storyAt(h, 'busy', 2), ['PENDING', 'SKIPPED'], 'the overlap policy decided busy');
      for (let i = 0; i < 20; i++) assert.deepEqual(storyAt(h, `due-${i}`, 2), ['PENDING', 'RUNNING', 'SUCCEEDED'], `due-${i}`);
      await h.advance(600); // busy's first run ends at 00:00:02.5
      await h.engine.idle();
      for (let i = 0; i < 20; i++) assert.equal((await h.api.getTask(`due-${i}`)).task.runCount, 1, `due-${i}'s run counted`);
    } finally {
      await h.cleanup();
    }
  });

  /** An action promise that notes when something first waits on it: the runner taking the action over. */
  class WatchedPromise<T> extends Promise<T> {
    static override get [Symbol.species]() {
      return Promise;
    }
    onFirstThen: (() => void) | undefined;
    override then<A = T, B = never>(ok?: ((v: T) => A | PromiseLike<A>) | null, err?: ((e: unknown) => B | PromiseLike<B>) | null): Promise<A | B> {
      this.onFirstThen?.();
      this.onFirstThen = undefined;
      return super.then(ok, err);
    }
  }

  /** Actions that queue their wire write as nats.js does: it happens when the current microtask ends. */
  class WireQueueingActions extends ScriptedActions {
    readonly order: string[] = [];
    override execute(action: ActionSpec, context: ActionContext): Promise<ActionResult> {
      const result = super.execute(action, context);
      queueMicrotask(() => this.order.push('written'));
      const watched = new WatchedPromise<ActionResult>((resolve, reject) => { result.then(resolve, reject); });
      watched.onFirstThen = () => this.order.push('taken over');
      return watched;
    }
  }

  test('what their actions queued for the wire is written before the bookkeeping of any of them', async () => {
    const clock = new FakeClock(T0);
    const actions = new WireQueueingActions(clock);
    const h = await new EngineHarness(clock, actions).start();
    try {
      for (let i = 0; i < 20; i++) await h.create(`due-${i}`, '* * * * * *');
      await h.advance(600); // every occurrence at 00:00:01 claimed
      assert.equal(actions.order.length, 0);
      await h.advance(400);
      assert.equal(actions.calls.length, 20);
      assert.deepEqual(actions.order.slice(0, 20), new Array(20).fill('written'), `every write, then the runner's first look at an action: ${actions.order.join(', ')}`);
      assert.equal(actions.order.filter((o) => o === 'taken over').length, 20, 'the runner took every action over');
      await h.engine.idle();
      for (let i = 0; i < 20; i++) assert.deepEqual(storyAt(h, `due-${i}`, 1), ['PENDING', 'RUNNING', 'SUCCEEDED'], `due-${i}`);
    } finally {
      await h.cleanup();
    }
  });
});
