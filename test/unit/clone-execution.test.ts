import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cloneExecution, type Execution } from '../../src/domain/execution.js';

const full: Execution = {
  id: '0190c1a0-0000-7000-8000-000000000001',
  taskName: 't',
  scheduledTime: 1,
  startTime: 2,
  endTime: 3,
  state: 'FAILED',
  attempt: 2,
  trigger: 'SCHEDULE',
  error: 'boom',
  node: 'n1',
  attempts: [
    { number: 1, startTime: 2, endTime: 2.5, state: 'FAILED', error: 'first' },
    { number: 2, startTime: 2.6, endTime: 3, state: 'FAILED', error: 'boom' },
  ],
  output: 'out',
};

test('cloneExecution copies every field (a field added to Execution must be added there too)', () => {
  const copy = cloneExecution(full);
  assert.deepEqual(copy, structuredClone(full));
  assert.deepEqual(Object.keys(copy).sort(), Object.keys(full).sort());
  assert.deepEqual(Object.keys(copy.attempts[0]!).sort(), Object.keys(full.attempts[0]!).sort());
});

test('cloneExecution is deep: changing the original later leaves the snapshot as it was', () => {
  const original = structuredClone(full);
  const copy = cloneExecution(original);
  original.state = 'SUCCEEDED';
  original.attempts[0]!.error = 'changed';
  original.attempts.push({ number: 3, startTime: 4, endTime: undefined, state: 'RUNNING', error: '' });
  assert.equal(copy.state, 'FAILED');
  assert.equal(copy.attempts[0]!.error, 'first');
  assert.equal(copy.attempts.length, 2);
});
