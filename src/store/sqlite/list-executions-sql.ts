import type { ExecutionState } from '../../domain/execution.js';
import type { ExecutionPageKey } from './page-key.js';
import type { SqlQuery } from './list-tasks-sql.js';

const COLUMNS = 'json, scheduled_time AS scheduledTime, id';
const NEWEST_FIRST = 'ORDER BY scheduled_time DESC, id DESC';

/**
 * One ListExecutions page (newest first, keyset after `before`, `rows` rows) as SQL that
 * stays an index range walk of about `rows` entries whatever the table size:
 * - one task: executions_task, named: with a page key SQLite may otherwise take
 *   executions_time, whose key matches the page key's columns, and walk every task's
 *   executions (it did in a scratch test with ANALYZE statistics and literal values); ties of
 *   one instant are sorted on the way; its states are filtered on the way
 *   (history per task is bounded, so a rare state costs at most one task's history);
 * - all tasks, at most one state: executions_time or executions_state_time;
 * - all tasks, several states: one range per state on executions_state_time, each cut at
 *   `rows`, merged (a single `state IN (...)` would sort every execution in those states).
 * Statement text depends only on the shape, for the store's statement cache.
 */
export function listExecutionsSql(
  taskName: string,
  states: readonly ExecutionState[],
  before: ExecutionPageKey | undefined,
  rows: number,
): SqlQuery {
  const distinct = [...new Set(states)].sort();
  const keyTerm = '(scheduled_time, id) < (?, ?)';
  const keyParams = before === undefined ? [] : [before.scheduledTime, before.id];

  if (taskName === '' && distinct.length > 1) {
    const arms = distinct.map(
      () =>
        `SELECT * FROM (SELECT ${COLUMNS} FROM executions WHERE state = ?` +
        `${before === undefined ? '' : ` AND ${keyTerm}`} ${NEWEST_FIRST} LIMIT ?)`,
    );
    return {
      sql: `${arms.join(' UNION ALL ')} ORDER BY scheduledTime DESC, id DESC LIMIT ?`,
      params: [...distinct.flatMap((state) => [state, ...keyParams, rows]), rows],
    };
  }

  const terms: string[] = [];
  const params: (string | number)[] = [];
  if (taskName !== '') {
    terms.push('task_name = ?');
    params.push(taskName);
  }
  if (distinct.length > 0) {
    // With a task, '+state' keeps the state index out of SQLite's choice (executions_task is ordered and bounded).
    terms.push(`${taskName === '' ? '' : '+'}state IN (${distinct.map(() => '?').join(', ')})`);
    params.push(...distinct);
  }
  if (before !== undefined) {
    terms.push(keyTerm);
    params.push(...keyParams);
  }
  params.push(rows);
  const where = terms.length === 0 ? '' : ` WHERE ${terms.join(' AND ')}`;
  const from = taskName === '' ? 'executions' : 'executions INDEXED BY executions_task';
  return { sql: `SELECT ${COLUMNS} FROM ${from}${where} ${NEWEST_FIRST} LIMIT ?`, params };
}
