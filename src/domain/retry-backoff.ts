import type { RetryPolicy } from './task.js';

/** Retry decisions of one execution: whether to try again and how long to wait first. */

/**
 * The wait after attempt `failedAttempt` (1-based) failed: exponential from the initial backoff,
 * capped at the maximum, then shortened by up to `jitter` of itself so that tasks failing together
 * do not retry in lockstep. Whole milliseconds.
 */
export function backoffDelay(policy: RetryPolicy, failedAttempt: number, random: () => number = Math.random): number {
  const n = Math.max(1, Math.floor(failedAttempt));
  const exponential = policy.initialBackoffMs * policy.multiplier ** (n - 1);
  const capped = Math.max(0, Math.min(exponential, policy.maxBackoffMs));
  const jitter = Math.min(1, Math.max(0, policy.jitter));
  const share = jitter === 0 ? 0 : jitter * Math.min(1, Math.max(0, random()));
  return Math.round(capped * (1 - share));
}

/** True when the execution gets another attempt after attempt `attempt` (1-based) failed. */
export function shouldRetry(policy: RetryPolicy, attempt: number): boolean {
  return attempt < Math.max(1, policy.maxAttempts);
}
