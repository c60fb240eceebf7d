import type Database from 'better-sqlite3';
import { CLAIMS_OCCURRENCE_SQL } from './claim-key-sql.js';
import { FINAL_STATES_SQL_LIST } from './final-states-sql.js';

/**
 * Keeps each task's history near `historyPerTask` executions without paying for it on every
 * write: a task is pruned once every `interval` new executions (a tenth of the limit, at
 * most 100), so history overshoots the limit by less than 10% between prunes. Counters live
 * in memory and start over on restart, which only delays the next prune.
 *
 * A prune deletes, of that task, the final executions older than its newest
 * `historyPerTask` (ListExecutions order). Never deleted: executions that are not final
 * (still owned by the engine or awaiting crash recovery), and the newest non-manual one,
 * which is where lastOccurrence says the schedule left off.
 */
export class HistoryPruner {
  private readonly interval: number;
  private readonly newSincePrune = new Map<string, number>();
  private readonly prune: Database.Statement<{ task: string; keep: number }>;

  constructor(
    db: Database.Database,
    private readonly historyPerTask: number,
  ) {
    this.interval = Math.max(1, Math.min(100, Math.floor(historyPerTask / 10)));
    this.prune = db.prepare(`
      DELETE FROM executions INDEXED BY executions_task
      WHERE task_name = @task
        AND state IN ${FINAL_STATES_SQL_LIST}
        AND (scheduled_time, id) <= (
          SELECT scheduled_time, id FROM executions WHERE task_name = @task
          ORDER BY scheduled_time DESC, id DESC LIMIT 1 OFFSET @keep)
        AND NOT (${CLAIMS_OCCURRENCE_SQL} AND scheduled_time = (
          SELECT MAX(scheduled_time) FROM executions WHERE task_name = @task AND ${CLAIMS_OCCURRENCE_SQL}))`);
  }

  /** Call inside the transaction that inserted a new execution of `taskName`. */
  executionAdded(taskName: string): void {
    const count = (this.newSincePrune.get(taskName) ?? 0) + 1;
    if (count < this.interval) {
      this.newSincePrune.set(taskName, count);
      return;
    }
    this.newSincePrune.delete(taskName);
    this.prune.run({ task: taskName, keep: this.historyPerTask });
  }
}
