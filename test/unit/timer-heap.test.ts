import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TimerHeap } from '../../src/engine/timer-heap.js';

test('pops entries in time order, updates and deletes by key', () => {
  const heap = new TimerHeap();
  heap.set('c', 30);
  heap.set('a', 10);
  heap.set('b', 20);
  heap.set('d', 5);
  heap.set('d', 40); // moved later
  assert.equal(heap.delete('b'), true);
  assert.equal(heap.delete('b'), false);
  assert.deepEqual(heap.peek(), { key: 'a', at: 10 });
  assert.equal(heap.popDue(9), undefined);
  const order: string[] = [];
  for (let e = heap.popDue(100); e !== undefined; e = heap.popDue(100)) order.push(`${e.key}@${e.at}`);
  assert.deepEqual(order, ['a@10', 'c@30', 'd@40']);
  assert.equal(heap.size, 0);
});

test('stays ordered under random inserts, moves and deletes', () => {
  const heap = new TimerHeap();
  const truth = new Map<string, number>();
  let seed = 42;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 5000; i++) {
    const key = `k${Math.floor(rnd() * 500)}`;
    if (rnd() < 0.2) {
      assert.equal(heap.delete(key), truth.delete(key));
    } else {
      const at = Math.floor(rnd() * 1e6);
      heap.set(key, at);
      truth.set(key, at);
    }
  }
  const expected = [...truth.entries()].sort((a, b) => a[1] - b[1]).map(([, at]) => at);
  const actual: number[] = [];
  for (let e = heap.popDue(Infinity); e !== undefined; e = heap.popDue(Infinity)) actual.push(e.at);
  assert.deepEqual(actual, expected);
});

test('deferred ordering: sets, moves and deletes in bulk, ordered at the first look, then as usual', () => {
  const heap = new TimerHeap();
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const truth = new Map<string, number>();
  heap.deferOrder();
  for (let i = 0; i < 3000; i++) {
    const key = `k${Math.floor(rnd() * 2000)}`;
    if (rnd() < 0.1) {
      assert.equal(heap.delete(key), truth.delete(key));
    } else {
      const at = Math.floor(rnd() * 1e6);
      heap.set(key, at);
      truth.set(key, at);
    }
  }
  assert.equal(heap.size, truth.size);
  for (const [key, at] of truth) assert.equal(heap.timeOf(key), at);
  heap.set('late', 2e6); // still deferred: the first popDue orders them all
  truth.set('late', 2e6);
  const expected = [...truth].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1)).map(([, at]) => at);
  const popped: number[] = [];
  for (let e = heap.popDue(Infinity); e !== undefined; e = heap.popDue(Infinity)) {
    assert.equal(truth.get(e.key), e.at);
    popped.push(e.at);
  }
  assert.deepEqual(popped, expected);
});
