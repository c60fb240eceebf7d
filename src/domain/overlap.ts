import type { OverlapPolicy } from './task.js';

/** What to do with a new occurrence, given what already runs for the task. */
export type OverlapDecision = 'run' | 'skip' | 'buffer' | 'cancel-previous';

/**
 * The overlap policy as a pure decision, so every case is unit-testable without timers.
 * `active` counts executions RUNNING or RETRYING; `buffered` whether one already waits.
 */
export function decideOverlap(policy: OverlapPolicy, active: number, buffered: boolean): OverlapDecision {
  if (active === 0 && !buffered) return 'run';
  switch (policy) {
    case 'ALLOW':
      return 'run';
    case 'SKIP':
      return 'skip';
    case 'BUFFER_ONE':
      return buffered ? 'skip' : 'buffer';
    case 'CANCEL_PREVIOUS':
      return 'cancel-previous';
  }
}

/** The reason recorded on a SKIPPED execution. */
export function skipReason(policy: OverlapPolicy, runningIds: string[], buffered: boolean): string {
  if (policy === 'BUFFER_ONE' && buffered) return 'skipped by overlap policy BUFFER_ONE: one occurrence is already buffered';
  return `skipped by overlap policy ${policy}: execution ${runningIds.join(', ') || '(unknown)'} still running`;
}
