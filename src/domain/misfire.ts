import type { MisfirePolicy } from './task.js';

/** At most this many missed occurrences are run by RUN_ALL: never a burst of hundreds. */
export const MAX_CATCHUP_RUNS = 100;
/** At most this many missed occurrences are recorded one by one; older ones are summarised. */
export const MAX_RECORDED_MISSES = 1000;

export interface MisfirePlan {
  /** Occurrences to run with trigger CATCHUP, oldest first. */
  run: number[];
  /** Occurrences to record as MISSED, oldest first. */
  missed: number[];
}

/**
 * Decide what happens to occurrences that passed unseen (downtime or a stall).
 * `occurrences` ascending, all <= now. Pure: the engine records what this returns.
 */
export function planMisfire(
  policy: MisfirePolicy,
  occurrences: number[],
  now: number,
  catchupWindowMs: number,
): MisfirePlan {
  const inWindow = occurrences.filter((t) => now - t <= catchupWindowMs);
  let run: number[] = [];
  if (policy === 'RUN_ONCE' && inWindow.length > 0) run = [inWindow[inWindow.length - 1]!];
  if (policy === 'RUN_ALL') run = inWindow.slice(-MAX_CATCHUP_RUNS);
  const runSet = new Set(run);
  return { run, missed: occurrences.filter((t) => !runSet.has(t)) };
}
