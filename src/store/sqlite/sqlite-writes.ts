import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import { EtagMismatchError, TaskAlreadyExistsError, TaskNotFoundError } from '../../domain/errors.js';
import { isFinalState, type ExecutionEvent, type ExecutionState } from '../../domain/execution.js';
import { taskChangeOf, type TaskChange } from '../../domain/task-event.js';
import type { Task } from '../../domain/task.js';
import { CLAIMS_OCCURRENCE_SQL } from './claim-key-sql.js';
import { EventPruner } from './event-pruner.js';
import { FINAL_STATES_SQL_LIST } from './final-states-sql.js';
import { HistoryPruner } from './history-pruner.js';
import { taskFromRow, taskToJson } from './rows.js';
import { StatementCache } from './statement-cache.js';
import { TASK_COLUMNS, executionRow, taskParams, taskPlanParams, type ExecutionRow, type TaskParams, type TaskPlanParams, type TaskRow } from './statements.js';

/**
 * Every write of the SQLite store, as data: what the event loop hands to the writing
 * connection, on this thread or on the writer thread (writer-thread.ts).
 */
export type WriteOp =
  | { op: 'createTask'; task: Task }
  | { op: 'replaceTask'; task: Task; expectedEtag: string }
  | { op: 'deleteTask'; name: string; expectedEtag: string | undefined; time: number }
  | { op: 'addRunCount'; name: string }
  /**
   * The row is encoded where the write is submitted (statements.ts executionRow): the writer
   * thread gets strings. With `first`, an earlier change of the same execution (the start of a
   * short action, held back until it ended) is recorded just before, as an event of its own.
   */
  | { op: 'recordExecution'; row: ExecutionRow; event: { id: string; time: number }; claim: boolean; first?: EarlierChange }
  | { op: 'ackOutbox'; sequences: number[] }
  | { op: 'ackTaskOutbox'; sequences: number[] };

/** A change recorded in the same write just before another of the same execution. */
export interface EarlierChange {
  state: string;
  json: string;
  event: { id: string; time: number };
}

/** recordExecution: the new event's sequence (with `first`, the later one's), or undefined when nothing was written. */
export type WriteValue = number | undefined;

/** What the writing connection keeps in memory, so reads need no COUNT. */
export interface WriteCounters {
  /** Outbox watermark: every event at or below it has left the outbox (schema.ts). */
  published: number;
  /** Execution events waiting for NATS. */
  outboxCount: number;
  /** Task events waiting for NATS. */
  taskOutboxCount: number;
  /** Events dropped at the outbox limit since open. */
  dropped: number;
  /** Rows in `tasks`. */
  taskCount: number;
  /** The newest event's sequence (0 when none yet). */
  lastSequence: number;
}

export interface WriteLimits {
  historyPerTask: number;
  eventRetention: number;
  outboxLimit: number;
}

/**
 * The write side of the SQLite store on one connection: each `apply` is one write, run inside a
 * batch's transaction (WriteBatch keeps each atomic on its own). It is the file's only writer,
 * so it keeps the outbox and task counts in memory; after a batch that did not commit,
 * `restore` puts back the counts from before it.
 */
export class SqliteWrites {
  private readonly statements: ReturnType<typeof writeStatements>;
  private readonly dynamic: StatementCache;
  private readonly historyPruner: HistoryPruner;
  private readonly eventPruner: EventPruner;
  private readonly counts: WriteCounters = { published: 0, outboxCount: 0, taskOutboxCount: 0, dropped: 0, taskCount: 0, lastSequence: 0 };

  constructor(
    private readonly db: Database.Database,
    private readonly limits: WriteLimits,
  ) {
    this.statements = writeStatements(db);
    this.dynamic = new StatementCache(db);
    this.historyPruner = new HistoryPruner(db, limits.historyPerTask);
    this.eventPruner = new EventPruner(db, limits.eventRetention);
    Object.assign(this.counts, readCounters(db));
  }

  /** A copy: the caller may keep it while later writes change the live one. */
  counters(): WriteCounters {
    return { ...this.counts };
  }

  /** Back to counts taken before a batch that did not commit. */
  restore(counts: WriteCounters): void {
    Object.assign(this.counts, counts);
  }

  /**
   * One write. A refusal (TaskAlreadyExists, TaskNotFound, EtagMismatch, or undefined from
   * recordExecution) is decided before anything is written, so it needs no undoing
   * (write-batch.ts relies on this); any other error may leave part of the write behind.
   */
  apply(op: WriteOp): WriteValue {
    switch (op.op) {
      case 'createTask':
        return this.createTask(op.task);
      case 'replaceTask':
        return this.replaceTask(op.task, op.expectedEtag);
      case 'deleteTask':
        return this.deleteTask(op.name, op.expectedEtag, op.time);
      case 'addRunCount':
        this.statements.addRunCount.run(op.name);
        return undefined;
      case 'recordExecution':
        return op.first === undefined ? this.recordExecution(op.row, op.event, op.claim) : this.recordTwoChanges(op.first, op.row, op.event);
      case 'ackOutbox':
        return this.ackOutbox(op.sequences);
      case 'ackTaskOutbox':
        for (const sequence of op.sequences) this.counts.taskOutboxCount -= this.statements.ackTaskEvent.run(sequence).changes;
        return undefined;
    }
  }

  /**
   * Apply an event whose sequence was assigned elsewhere (the JetStream stream), for a store
   * used as a replica's read model, in a transaction of its own. Idempotent by sequence; like
   * recordExecution it never moves an execution out of a final state nor adds a second
   * execution for a claimed occurrence. Queues nothing in the outbox. Returns whether the
   * event was applied.
   */
  applyReplicatedEvent(event: ExecutionEvent): boolean {
    const { execution } = event;
    const applied = this.db.transaction((): boolean => {
      if (this.dynamic.get('SELECT 1 FROM events WHERE sequence = ?').get(event.sequence) !== undefined) return false;
      const stored = this.statements.executionStateById.get(execution.id);
      if (stored !== undefined && isFinalState(stored.state) && stored.state !== execution.state) return false;
      if (
        stored === undefined &&
        execution.trigger !== 'MANUAL' &&
        this.statements.occurrenceClaimed.get(execution.taskName, execution.scheduledTime) !== undefined
      ) {
        return false;
      }
      const row = executionRow(execution);
      this.statements.upsertExecution.run(row);
      this.dynamic
        .get('INSERT INTO events (sequence, id, task_name, time, execution) VALUES (?, ?, ?, ?, ?)')
        .run(event.sequence, event.id, execution.taskName, event.time, row.json);
      if (stored === undefined) this.historyPruner.executionAdded(execution.taskName);
      // Nothing to publish: when no event of this store's own waits, the watermark follows the
      // replicated events, so they never count as waiting. (A store is either a replica's read
      // model or the recording store with an outbox, not both.)
      const follows = this.counts.outboxCount === 0 && event.sequence > this.counts.published;
      if (follows) this.statements.setWatermark.run(event.sequence);
      this.eventPruner.eventAdded(event.sequence, follows ? event.sequence : this.counts.published);
      return true;
    }).immediate();
    if (applied && this.counts.outboxCount === 0 && event.sequence > this.counts.published) this.counts.published = event.sequence;
    if (applied) this.counts.lastSequence = Math.max(this.counts.lastSequence, event.sequence);
    return applied;
  }

  private createTask(task: Task): undefined {
    if (this.statements.insertTask.run(taskParams(task)).changes === 0) throw new TaskAlreadyExistsError(task.name);
    this.statements.setPlan.run(taskPlanParams(task));
    this.setRunCount(task);
    this.queueTaskEvent('created', task, task.updateTime);
    this.counts.taskCount++;
    return undefined;
  }

  private replaceTask(task: Task, expectedEtag: string): undefined {
    const before = this.statements.getTask.get(task.name);
    if (this.statements.replaceTask.run({ ...taskParams(task), expected: expectedEtag }).changes > 0) {
      this.statements.setPlan.run(taskPlanParams(task));
      this.setRunCount(task);
      const change = taskChangeOf(before === undefined ? undefined : taskFromRow(before), task);
      if (change !== undefined) this.queueTaskEvent(change, task, task.updateTime);
      return undefined;
    }
    if (before === undefined) throw new TaskNotFoundError(task.name);
    throw new EtagMismatchError(task.name);
  }

  private deleteTask(name: string, expectedEtag: string | undefined, time: number): undefined {
    const before = this.statements.getTask.get(name);
    const result =
      expectedEtag === undefined
        ? this.statements.deleteTask.run(name)
        : this.statements.deleteTaskIfEtag.run(name, expectedEtag);
    if (result.changes > 0) {
      this.statements.deleteRunCount.run(name);
      this.statements.deletePlan.run(name);
      this.queueTaskEvent('deleted', taskFromRow(before!), time);
      this.counts.taskCount--;
      return undefined;
    }
    if (before === undefined) throw new TaskNotFoundError(name);
    throw new EtagMismatchError(name);
  }

  /** The task's row in task_runs follows the task written (none for 0: see schema.ts). */
  private setRunCount(task: Task): void {
    if (task.runCount > 0) this.statements.setRunCount.run(task.name, task.runCount);
    else this.statements.deleteRunCount.run(task.name);
  }

  /**
   * Moves the watermark over the waiting events at the head of the outbox that are in
   * `sequences`, stopping at the first one that is not. Unknown or already acked sequences are
   * ignored; one acked behind an event still waiting stays queued (see the Store interface).
   * One indexed range read and one row update, however many events.
   */
  private ackOutbox(sequences: number[]): undefined {
    const published = this.counts.published;
    const acked = sequences.filter((s) => s > published).sort((a, b) => a - b);
    if (acked.length === 0) return undefined;
    // The head of the outbox, as long as the acked list (duplicates only make it longer).
    const head = this.statements.sequencesAbove.all(published, acked.length);
    let count = 0;
    for (let i = 0; i < acked.length && count < head.length; i++) {
      if (acked[i] === head[count]) count++;
      else if (acked[i]! > head[count]!) break; // a waiting event that was not acked
      // else a duplicate or an unknown sequence below the next waiting one: skip it
    }
    if (count === 0) return undefined;
    this.statements.setWatermark.run(head[count - 1]!);
    this.counts.published = head[count - 1]!;
    this.counts.outboxCount -= count;
    return undefined;
  }

  private queueTaskEvent(change: TaskChange, task: Task, time: number): void {
    this.statements.insertTaskEvent.run({ id: randomUUID(), taskName: task.name, change, time, task: taskToJson(task) });
    this.counts.taskOutboxCount++;
    const excess = this.counts.taskOutboxCount - this.limits.outboxLimit;
    if (excess > 0) {
      this.counts.taskOutboxCount -= this.statements.dropOldestTaskEvents.run(excess).changes;
      this.counts.dropped += excess;
    }
  }

  /**
   * Also refuses (returns undefined, writes nothing) to move a stored execution out of a final
   * state. With `claim`, an existing id or any non-manual execution of the same occurrence
   * means somebody already handles it: nothing is written either.
   */
  private recordExecution(row: ExecutionRow, event: { id: string; time: number }, claim: boolean): WriteValue {
    const added = claim ? this.claimExecution(row) : this.updateExecution(row);
    if (added === undefined) return undefined;
    if (added) this.historyPruner.executionAdded(row.taskName);
    return this.appendEvent(row.taskName, event, row.json);
  }

  /**
   * `first`, then the row: two events with consecutive sequences (the caller derives the first's
   * from the second's). The execution's row is written once, as the row: it passes through
   * `first` only inside this transaction, where nobody can see it. Refused, with nothing
   * written, exactly when `first` alone would be: the stored execution is in a final state (as
   * `first` is never final, the row's own write could not then be refused).
   */
  private recordTwoChanges(first: EarlierChange, row: ExecutionRow, event: { id: string; time: number }): WriteValue {
    if (isFinalState(first.state as ExecutionState)) throw new Error(`the earlier of two changes must not be final (${first.state})`);
    // A failure of the second event leaves the first's counts behind: a savepoint undoes its
    // rows (WriteBatch), this undoes its counts.
    const before = this.counters();
    try {
      const added = this.updateExecution(row, true);
      if (added === undefined) return undefined;
      if (added) this.historyPruner.executionAdded(row.taskName);
      const firstSequence = this.appendEvent(row.taskName, first.event, first.json);
      const sequence = this.appendEvent(row.taskName, event, row.json);
      if (sequence !== firstSequence + 1) throw new Error(`the second of two changes got sequence ${sequence}, not ${firstSequence + 1}`);
      return sequence;
    } catch (err) {
      this.restore(before);
      throw err;
    }
  }

  /** A new event of the execution whose snapshot is `json`, waiting in the outbox: returns its sequence. */
  private appendEvent(taskName: string, event: { id: string; time: number }, json: string): number {
    const sequence = Number(
      this.statements.insertEvent.run({ id: event.id, taskName, time: event.time, execution: json }).lastInsertRowid,
    );
    // Above the watermark, the new event waits in the outbox: nothing more to write for it.
    let published = this.counts.published;
    const excess = this.counts.outboxCount + 1 - this.limits.outboxLimit;
    if (excess > 0) {
      // At the limit the oldest waiting events give way (the watermark moves past them): the
      // history (and watch replay) keeps them.
      published = this.statements.nthAbove.get(published, excess - 1)!.sequence;
      this.statements.setWatermark.run(published);
    }
    this.eventPruner.eventAdded(sequence, published);
    // Counted once every statement of this write went through (a throw undoes it: see WriteBatch).
    this.counts.outboxCount += 1 - Math.max(0, excess);
    this.counts.published = published;
    this.counts.dropped += Math.max(0, excess);
    this.counts.lastSequence = sequence;
    return sequence;
  }

  /**
   * A new execution, unless its id exists or (not MANUAL) its occurrence is claimed: one insert
   * decides, refused by the id's uniqueness or the executions_task index (one claim key per instant). Returns true when
   * inserted, undefined when refused.
   */
  private claimExecution(row: ExecutionRow): true | undefined {
    if (row.trigger === 'MANUAL' && this.statements.occurrenceClaimed.get(row.taskName, row.scheduledTime) !== undefined) {
      return undefined; // a manual claim of a claimed instant (its claim key is its id: no conflict)
    }
    return this.statements.claimExecution.run(row).changes > 0 ? true : undefined;
  }

  /**
   * The execution's new state: an update of its row (only state and json change; the indexed
   * identity columns never do), refused when the stored state is a different final one (with
   * `fromOpenOnly`, any final one). Inserted when there is no row yet. Returns whether
   * inserted, undefined when refused.
   */
  private updateExecution(row: ExecutionRow, fromOpenOnly = false): boolean | undefined {
    const update = fromOpenOnly ? this.statements.updateOpenExecution : this.statements.updateExecution;
    if (update.run({ id: row.id, state: row.state, json: row.json }).changes > 0) return false;
    if (this.statements.executionStateById.get(row.id) !== undefined) return undefined;
    this.statements.insertExecution.run(row);
    return true;
  }
}

/** The counts as the file has them (`dropped` is per process: 0). */
export function readCounters(db: Database.Database): WriteCounters {
  const published = db.prepare<[], { published: number }>('SELECT published FROM outbox_watermark WHERE id = 1').get()!.published;
  const count = (sql: string, ...params: number[]) => db.prepare<number[], { n: number }>(sql).get(...params)!.n;
  return {
    published,
    outboxCount: count('SELECT COUNT(*) AS n FROM events WHERE sequence > ?', published),
    taskOutboxCount: count('SELECT COUNT(*) AS n FROM task_events'),
    dropped: 0,
    taskCount: count('SELECT COUNT(*) AS n FROM tasks'),
    lastSequence: db.prepare<[], { seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'events'").get()?.seq ?? 0,
  };
}

/** The writer's statements, prepared once on its connection. */
function writeStatements(db: Database.Database) {
  return {
    insertTask: db.prepare<TaskParams>(`
      INSERT INTO tasks (name, state, etag, labels, json) VALUES (@name, @state, @etag, @labels, @json)
      ON CONFLICT (name) DO NOTHING`),
    getTask: db.prepare<[string], TaskRow>(`SELECT ${TASK_COLUMNS} FROM tasks WHERE name = ?`),
    replaceTask: db.prepare<TaskParams & { expected: string }>(`
      UPDATE tasks SET state = @state, etag = @etag, labels = @labels, json = @json
      WHERE name = @name AND etag = @expected`),
    deleteTask: db.prepare<[string]>('DELETE FROM tasks WHERE name = ?'),
    // Only for a task that exists: a count arriving after its delete must not outlive it.
    addRunCount: db.prepare<[string]>(`
      INSERT INTO task_runs (name, run_count) SELECT name, 1 FROM tasks WHERE name = ?
      ON CONFLICT (name) DO UPDATE SET run_count = run_count + 1`),
    setRunCount: db.prepare<[string, number]>(`
      INSERT INTO task_runs (name, run_count) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET run_count = excluded.run_count`),
    deleteRunCount: db.prepare<[string]>('DELETE FROM task_runs WHERE name = ?'),
    setPlan: db.prepare<TaskPlanParams>(`
      INSERT INTO task_plans (name, cron, time_zone, state, anchor, start_time, end_time, max_runs, misfire, catchup_ms)
      VALUES (@name, @cron, @timeZone, @state, @anchor, @startTime, @endTime, @maxRuns, @misfire, @catchupMs)
      ON CONFLICT (name) DO UPDATE SET cron = excluded.cron, time_zone = excluded.time_zone, state = excluded.state,
        anchor = excluded.anchor, start_time = excluded.start_time, end_time = excluded.end_time,
        max_runs = excluded.max_runs, misfire = excluded.misfire, catchup_ms = excluded.catchup_ms`),
    deletePlan: db.prepare<[string]>('DELETE FROM task_plans WHERE name = ?'),
    deleteTaskIfEtag: db.prepare<[string, string]>('DELETE FROM tasks WHERE name = ? AND etag = ?'),
    executionStateById: db.prepare<[string], { state: ExecutionState }>('SELECT state FROM executions WHERE id = ?'),
    occurrenceClaimed: db.prepare<[string, number], { one: number }>(`
      SELECT 1 AS one FROM executions WHERE task_name = ? AND scheduled_time = ? AND ${CLAIMS_OCCURRENCE_SQL}`),
    upsertExecution: db.prepare<ExecutionRow>(`
      INSERT INTO executions (id, task_name, scheduled_time, trigger, state, json)
      VALUES (@id, @taskName, @scheduledTime, @trigger, @state, @json)
      ON CONFLICT (id) DO UPDATE SET
        task_name = excluded.task_name, scheduled_time = excluded.scheduled_time,
        trigger = excluded.trigger, state = excluded.state, json = excluded.json`),
    claimExecution: db.prepare<ExecutionRow>(`
      INSERT INTO executions (id, task_name, scheduled_time, trigger, state, json)
      VALUES (@id, @taskName, @scheduledTime, @trigger, @state, @json)
      ON CONFLICT DO NOTHING`),
    insertExecution: db.prepare<ExecutionRow>(`
      INSERT INTO executions (id, task_name, scheduled_time, trigger, state, json)
      VALUES (@id, @taskName, @scheduledTime, @trigger, @state, @json)`),
    updateExecution: db.prepare<{ id: string; state: string; json: string }>(`
      UPDATE executions SET state = @state, json = @json
      WHERE id = @id AND (state NOT IN ${FINAL_STATES_SQL_LIST} OR state = @state)`),
    updateOpenExecution: db.prepare<{ id: string; state: string; json: string }>(`
      UPDATE executions SET state = @state, json = @json WHERE id = @id AND state NOT IN ${FINAL_STATES_SQL_LIST}`),
    insertEvent: db.prepare<{ id: string; taskName: string; time: number; execution: string }>(`
      INSERT INTO events (id, task_name, time, execution) VALUES (@id, @taskName, @time, @execution)`),
    setWatermark: db.prepare<[number]>('UPDATE outbox_watermark SET published = ? WHERE id = 1'),
    sequencesAbove: db.prepare<[number, number], number>(
      'SELECT sequence FROM events WHERE sequence > ? ORDER BY sequence LIMIT ?',
    ).pluck(),
    /** The sequence of the (offset+1)-th waiting event after the watermark. */
    nthAbove: db.prepare<[number, number], { sequence: number }>(
      'SELECT sequence FROM events WHERE sequence > ? ORDER BY sequence LIMIT 1 OFFSET ?',
    ),
    insertTaskEvent: db.prepare<{ id: string; taskName: string; change: string; time: number; task: string }>(`
      INSERT INTO task_events (id, task_name, change, time, task) VALUES (@id, @taskName, @change, @time, @task)`),
    ackTaskEvent: db.prepare<[number]>('DELETE FROM task_events WHERE sequence = ?'),
    dropOldestTaskEvents: db.prepare<[number]>(
      'DELETE FROM task_events WHERE sequence IN (SELECT sequence FROM task_events ORDER BY sequence LIMIT ?)',
    ),
  };
}
