import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { backoffDelay, shouldRetry } from '../../src/domain/retry-backoff.js';
import type { RetryPolicy } from '../../src/domain/task.js';

const policy = (p: Partial<RetryPolicy> = {}): RetryPolicy => ({
  maxAttempts: 5, initialBackoffMs: 1000, maxBackoffMs: 60_000, multiplier: 2, jitter: 0, ...p,
});
const never = (): number => {
  throw new Error('random must not be called without jitter');
};

describe('backoffDelay', () => {
  test('grows exponentially from the initial backoff and stops at the maximum', () => {
    const p = policy();
    assert.deepEqual([1, 2, 3, 6, 7, 8, 100].map((n) => backoffDelay(p, n, never)), [1000, 2000, 4000, 32_000, 60_000, 60_000, 60_000]);
    assert.equal(backoffDelay(p, 5000, never), 60_000, 'overflow to Infinity is still capped');
  });

  test('fractional multipliers round to whole ms', () => {
    const p = policy({ initialBackoffMs: 100, multiplier: 1.5 });
    assert.deepEqual([1, 2, 3, 4].map((n) => backoffDelay(p, n, never)), [100, 150, 225, 338]);
  });

  test('multiplier 1 is a constant backoff; 0 initial is an immediate retry', () => {
    assert.deepEqual([1, 2, 9].map((n) => backoffDelay(policy({ multiplier: 1 }), n, never)), [1000, 1000, 1000]);
    assert.equal(backoffDelay(policy({ initialBackoffMs: 0 }), 4, never), 0);
  });

  test('jitter shortens the wait by up to its share', () => {
    const p = policy({ jitter: 0.5 });
    assert.equal(backoffDelay(p, 1, () => 0), 1000);
    assert.equal(backoffDelay(p, 1, () => 0.5), 750);
    assert.equal(backoffDelay(p, 1, () => 0.9), 550);
    assert.equal(backoffDelay(p, 7, () => 0.5), 45_000);
    assert.equal(backoffDelay(policy({ jitter: 1 }), 1, () => 0.25), 750);
    for (let i = 0; i < 100; i++) {
      const d = backoffDelay(p, 2);
      assert.ok(d >= 1000 && d <= 2000, String(d));
    }
  });

  test('an attempt number below 1 counts as the first', () => {
    assert.equal(backoffDelay(policy(), 0, never), 1000);
  });
});

describe('shouldRetry', () => {
  test('retries until max_attempts attempts were made', () => {
    assert.deepEqual([1, 2, 3, 4].map((n) => shouldRetry(policy({ maxAttempts: 3 }), n)), [true, true, false, false]);
  });

  test('max_attempts 0 and 1 both mean a single attempt', () => {
    assert.equal(shouldRetry(policy({ maxAttempts: 0 }), 1), false);
    assert.equal(shouldRetry(policy({ maxAttempts: 1 }), 1), false);
  });
});
