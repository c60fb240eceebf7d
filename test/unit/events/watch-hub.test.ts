import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ResourceExhaustedError } from '../../../src/domain/errors.js';
import type { ExecutionEvent, ExecutionState } from '../../../src/domain/execution.js';
import { WatchHub } from '../../../src/events/watch-hub.js';
import type { Store } from '../../../src/store/store.js';

function event(sequence: number, taskName = 'a', state: ExecutionState = 'RUNNING'): ExecutionEvent {
  return {
    sequence,
    id: `ev-${sequence}`,
    time: 1_700_000_000_000 + sequence,
    execution: {
      id: `x-${sequence}`, taskName, scheduledTime: 1_700_000_000_000, startTime: undefined, endTime: undefined, state,
      attempt: 0, trigger: 'SCHEDULE', error: '', node: 'n', attempts: [], output: '',
    },
  };
}

/** Only eventsAfter is used by the hub. */
function storeWith(history: ExecutionEvent[]): Store {
  return {
    eventsAfter: async (after: number, limit: number) => history.filter((e) => e.sequence > after).slice(0, limit),
  } as unknown as Store;
}

test('live events in order, filtered by task and state; a replay joins them without gap or repeat', async () => {
  const history = Array.from({ length: 1_200 }, (_, i) => event(i + 1, i % 2 === 0 ? 'a' : 'b'));
  const hub = new WatchHub(storeWith(history));
  const abort = new AbortController();
  const got: number[] = [];
  const watching = (async () => {
    for await (const e of hub.watch({ taskNames: ['a'], states: [], afterSequence: 0 }, abort.signal)) {
      got.push(e.sequence);
      if (e.sequence >= 1_299) abort.abort();
    }
  })();
  // live events published while the replay pages are read: some repeat the history
  for (let s = 1_150; s <= 1_300; s++) hub.publish(event(s, s % 2 === 1 ? 'a' : 'b'));
  await watching;
  const expected = Array.from({ length: 1_299 }, (_, i) => i + 1).filter((s) => s % 2 === 1);
  assert.deepEqual(got, expected);
  assert.equal(hub.size, 0, 'the watcher is gone once its stream ends');

  const states = new AbortController();
  const failed: string[] = [];
  const onlyFailed = (async () => {
    for await (const e of hub.watch({ taskNames: [], states: ['FAILED'], afterSequence: undefined }, states.signal)) {
      failed.push(e.id);
      states.abort();
    }
  })();
  hub.publish(event(2_000, 'a', 'RUNNING'));
  hub.publish(event(2_001, 'b', 'FAILED'));
  await onlyFailed;
  assert.deepEqual(failed, ['ev-2001']);
});

test('a slow reader keeps every event through queue compaction; one that falls behind the limit is cut off', async () => {
  const hub = new WatchHub(storeWith([]), 5_000);
  const abort = new AbortController();
  const got: number[] = [];
  const reader = (async () => {
    for await (const e of hub.watch({ taskNames: [], states: [], afterSequence: undefined }, abort.signal)) {
      got.push(e.sequence);
      if (got.length % 100 === 0) await new Promise((r) => setImmediate(r));
      if (e.sequence === 20_000) abort.abort();
    }
  })();
  for (let s = 1; s <= 20_000; s++) {
    hub.publish(event(s));
    // bursts of 3,000 read 100 at a time: the queue is compacted while it still holds events
    if (s % 3_000 === 0) while (got.length < s - 500) await new Promise((r) => setTimeout(r, 1));
  }
  await reader;
  assert.deepEqual(got, Array.from({ length: 20_000 }, (_, i) => i + 1));

  const stuck = hub.watch({ taskNames: [], states: [], afterSequence: undefined }, new AbortController().signal);
  const first = stuck.next();
  hub.publish(event(30_000));
  assert.equal((await first).value?.sequence, 30_000);
  for (let s = 30_001; s <= 35_001; s++) hub.publish(event(s));
  await assert.rejects(stuck.next(), ResourceExhaustedError);
  assert.equal(hub.size, 0);
});

