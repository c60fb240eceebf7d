import { EXECUTION_STATES, isFinalState } from '../../domain/execution.js';

/** `('SUCCEEDED', 'FAILED', ...)`: the final states as an SQL list, derived from the domain's rule. */
export const FINAL_STATES_SQL_LIST = `(${EXECUTION_STATES.filter(isFinalState)
  .map((state) => `'${state}'`)
  .join(', ')})`;
