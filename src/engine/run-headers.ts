import type { Execution } from '../domain/execution.js';
import { isoMillis } from '../events/iso-time.js';

/**
 * Headers every action receives, so the receiving service can drop a repeat (Idempotency-Key)
 * and measure lateness (Cronplane-Scheduled-Time). Names as DESIGN.md fixes them.
 */
export function runHeaders(execution: Execution, attempt: number): Record<string, string> {
  return {
    'Cronplane-Task': execution.taskName,
    'Cronplane-Execution-Id': execution.id,
    'Cronplane-Scheduled-Time': Number.isSafeInteger(execution.scheduledTime) ? isoMillis(execution.scheduledTime) : new Date(execution.scheduledTime).toISOString(),
    'Cronplane-Attempt': String(attempt),
    'Idempotency-Key': execution.id,
  };
}
