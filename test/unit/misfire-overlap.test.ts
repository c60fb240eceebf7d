import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_CATCHUP_RUNS, planMisfire } from '../../src/domain/misfire.js';
import { decideOverlap } from '../../src/domain/overlap.js';

const MIN = 60_000;
const occ = (n: number) => Array.from({ length: n }, (_, i) => (i + 1) * MIN); // 1..n minutes

test('RUN_ONCE runs only the latest missed occurrence inside the window', () => {
  const plan = planMisfire('RUN_ONCE', occ(10), 10 * MIN + 30_000, 60_000);
  assert.deepEqual(plan.run, [10 * MIN]);
  assert.equal(plan.missed.length, 9);
  assert.ok(!plan.missed.includes(10 * MIN));
});

test('RUN_ONCE outside the window runs nothing', () => {
  const plan = planMisfire('RUN_ONCE', occ(10), 12 * MIN, 60_000);
  assert.deepEqual(plan.run, []);
  assert.equal(plan.missed.length, 10);
});

test('SKIP runs nothing', () => {
  assert.deepEqual(planMisfire('SKIP', occ(10), 10 * MIN, 3_600_000), { run: [], missed: occ(10) });
});

test('RUN_ALL runs every occurrence in the window, bounded', () => {
  assert.deepEqual(planMisfire('RUN_ALL', occ(10), 10 * MIN + 1, 15 * MIN).run, occ(10));
  const many = planMisfire('RUN_ALL', occ(500), 500 * MIN, 1000 * MIN);
  assert.equal(many.run.length, MAX_CATCHUP_RUNS);
  assert.equal(many.run[0], 401 * MIN);
  assert.equal(many.missed.length, 400);
});

test('overlap decisions', () => {
  assert.equal(decideOverlap('SKIP', 0, false), 'run');
  assert.equal(decideOverlap('SKIP', 1, false), 'skip');
  assert.equal(decideOverlap('ALLOW', 3, false), 'run');
  assert.equal(decideOverlap('BUFFER_ONE', 1, false), 'buffer');
  assert.equal(decideOverlap('BUFFER_ONE', 1, true), 'skip');
  assert.equal(decideOverlap('CANCEL_PREVIOUS', 1, false), 'cancel-previous');
});
