import type { Execution } from '../../src/domain/execution.js';

/**
 * A new execution as the engine claims it (PENDING, no attempt yet), for store and recorder
 * tests; `fields` sets its identity and anything else a test needs.
 */
export function pendingExecution(fields: Partial<Execution> & Pick<Execution, 'id' | 'taskName' | 'scheduledTime'>): Execution {
  return {
    startTime: undefined,
    endTime: undefined,
    state: 'PENDING',
    attempt: 0,
    trigger: 'SCHEDULE',
    error: '',
    node: 'n',
    attempts: [],
    output: '',
    ...fields,
  };
}
