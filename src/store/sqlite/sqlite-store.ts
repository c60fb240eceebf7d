import type Database from 'better-sqlite3';
import { EtagMismatchError, TaskAlreadyExistsError, TaskNotFoundError, UnavailableError } from '../../domain/errors.js';
import { cloneExecution, isFinalState } from '../../domain/execution.js';
import type { Execution, ExecutionEvent, ExecutionState } from '../../domain/execution.js';
import type { TaskFilter } from '../../domain/task-filter.js';
import type { Task } from '../../domain/task.js';
import type { Store } from '../store.js';
import { taskChangeOf, type TaskChange, type TaskEvent } from '../../domain/task-event.js';
import { randomUUID } from 'node:crypto';
import { EventPruner } from './event-pruner.js';
import { HistoryPruner } from './history-pruner.js';
import { BUSY_TIMEOUT_MS, openDatabase } from './open-database.js';
import { WalCheckpointer } from './wal-checkpointer.js';
import { decodeExecutionPageKey, encodeExecutionPageKey } from './page-key.js';
import {
  eventFromRow,
  executionFromJson,
  executionToJson,
  taskFromJson,
  taskLabelsToJson,
  taskToJson,
  type EventRow,
} from './rows.js';
import { GroupCommit } from './group-commit.js';
import { StatementCache } from './statement-cache.js';
import { listExecutionsSql } from './list-executions-sql.js';
import { listTasksSql } from './list-tasks-sql.js';

/** Tuning of a SqliteStore; the defaults suit a single node with up to ~1M tasks. */
export interface SqliteStoreOptions {
  /** Executions kept per task (final ones beyond it are pruned). Default 1000. */
  historyPerTask?: number;
  /** Events kept for WatchExecutions replay once NATS has them. Default 100 000. */
  eventRetention?: number;
  /**
   * Most events waiting for NATS (each outbox: executions, tasks); beyond it the oldest are
   * dropped from the outbox (execution events stay in the replay history). Default 1 000 000.
   */
  outboxLimit?: number;
  /**
   * Run WAL checkpoints (the store's fsyncs) on a worker thread instead of inside commits on
   * the event loop (wal-checkpointer.ts). Default true for a file; never for ':memory:'.
   */
  checkpointInWorker?: boolean;
  /** Told when a background checkpoint fails (it is retried on the next round). */
  onCheckpointError?: (message: string) => void;
}

/** About a day of a busy node's events during a NATS outage; a few GB of disk at most. */
export const DEFAULT_OUTBOX_LIMIT = 1_000_000;

interface TaskEventRow {
  sequence: number;
  id: string;
  change: TaskChange;
  time: number;
  task: string;
}

/** Enough history to see a task's recent behaviour; older runs live in logs and on NATS. */
export const DEFAULT_HISTORY_PER_TASK = 1000;
/** Enough replay for watchers that reconnect after minutes, at a few KB per event. */
export const DEFAULT_EVENT_RETENTION = 100_000;

interface JsonRow {
  json: string;
}

interface TaskParams {
  name: string;
  state: string;
  etag: string;
  labels: string;
  json: string;
}

interface ExecutionParams {
  id: string;
  taskName: string;
  scheduledTime: number;
  trigger: string;
  state: string;
  json: string;
}

interface ExecutionKeyRow extends JsonRow {
  scheduledTime: number;
  id: string;
}

const EVENT_COLUMNS = 'sequence, id, time, execution';

/** The statements with fixed SQL, prepared once when the store opens. */
function prepareStatements(db: Database.Database) {
  return {
    insertTask: db.prepare<TaskParams>(`
      INSERT INTO tasks (name, state, etag, labels, json) VALUES (@name, @state, @etag, @labels, @json)
      ON CONFLICT (name) DO NOTHING`),
    getTask: db.prepare<[string], JsonRow>('SELECT json FROM tasks WHERE name = ?'),
    taskExists: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM tasks WHERE name = ?'),
    allTasks: db.prepare<[], JsonRow>('SELECT json FROM tasks ORDER BY name'),
    countTasks: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM tasks'),
    replaceTask: db.prepare<TaskParams & { expected: string }>(`
      UPDATE tasks SET state = @state, etag = @etag, labels = @labels, json = @json
      WHERE name = @name AND etag = @expected`),
    deleteTask: db.prepare<[string]>('DELETE FROM tasks WHERE name = ?'),
    // In SQLite's own JSON functions: no decoding and encoding of the whole task in JavaScript.
    addRunCount: db.prepare<[string]>(
      "UPDATE tasks SET json = json_set(json, '$.runCount', json_extract(json, '$.runCount') + 1) WHERE name = ?",
    ),
    deleteTaskIfEtag: db.prepare<[string, string]>('DELETE FROM tasks WHERE name = ? AND etag = ?'),

    executionStateById: db.prepare<[string], { state: ExecutionState }>('SELECT state FROM executions WHERE id = ?'),
    occurrenceClaimed: db.prepare<[string, number], { one: number }>(`
      SELECT 1 AS one FROM executions WHERE task_name = ? AND scheduled_time = ? AND trigger != 'MANUAL'`),
    upsertExecution: db.prepare<ExecutionParams>(`
      INSERT INTO executions (id, task_name, scheduled_time, trigger, state, json)
      VALUES (@id, @taskName, @scheduledTime, @trigger, @state, @json)
      ON CONFLICT (id) DO UPDATE SET
        task_name = excluded.task_name, scheduled_time = excluded.scheduled_time,
        trigger = excluded.trigger, state = excluded.state, json = excluded.json`),
    insertEvent: db.prepare<{ id: string; taskName: string; time: number; execution: string }>(`
      INSERT INTO events (id, task_name, time, execution) VALUES (@id, @taskName, @time, @execution)`),
    getExecution: db.prepare<[string], JsonRow>('SELECT json FROM executions WHERE id = ?'),
    lastOccurrence: db.prepare<[string], { t: number | null }>(`
      SELECT MAX(scheduled_time) AS t FROM executions WHERE task_name = ? AND trigger != 'MANUAL'`),
    lastOccurrences: db.prepare<[], { name: string; t: number }>(`
      SELECT task_name AS name, MAX(scheduled_time) AS t FROM executions WHERE trigger != 'MANUAL' GROUP BY task_name`),
    lastExecution: db.prepare<[string], JsonRow>(`
      SELECT json FROM executions WHERE task_name = ? ORDER BY scheduled_time DESC, seq DESC LIMIT 1`),

    eventsAfter: db.prepare<[number, number], EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE sequence > ? ORDER BY sequence LIMIT ?`,
    ),
    lastSequence: db.prepare<[], { seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'events'"),
    // The outbox: every event above the watermark waits for NATS (see schema.ts).
    watermark: db.prepare<[], { published: number }>('SELECT published FROM outbox_watermark WHERE id = 1'),
    setWatermark: db.prepare<[number]>('UPDATE outbox_watermark SET published = ? WHERE id = 1'),
    countAbove: db.prepare<[number], { n: number }>('SELECT COUNT(*) AS n FROM events WHERE sequence > ?'),
    sequencesAbove: db.prepare<[number, number], number>(
      'SELECT sequence FROM events WHERE sequence > ? ORDER BY sequence LIMIT ?',
    ).pluck(),
    /** The sequence of the (offset+1)-th waiting event after the watermark. */
    nthAbove: db.prepare<[number, number], { sequence: number }>(
      'SELECT sequence FROM events WHERE sequence > ? ORDER BY sequence LIMIT 1 OFFSET ?',
    ),

    insertTaskEvent: db.prepare<{ id: string; taskName: string; change: string; time: number; task: string }>(`
      INSERT INTO task_events (id, task_name, change, time, task) VALUES (@id, @taskName, @change, @time, @task)`),
    pendingTaskEvents: db.prepare<[number], TaskEventRow>(
      'SELECT sequence, id, change, time, task FROM task_events ORDER BY sequence LIMIT ?',
    ),
    taskEventCount: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM task_events'),
    ackTaskEvent: db.prepare<[number]>('DELETE FROM task_events WHERE sequence = ?'),
    dropOldestTaskEvents: db.prepare<[number]>(
      'DELETE FROM task_events WHERE sequence IN (SELECT sequence FROM task_events ORDER BY sequence LIMIT ?)',
    ),
  };
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

/** SQLite's LIMIT treats a negative value as "no limit": never let one through. */
function rowLimit(limit: number): number {
  return Number.isFinite(limit) ? Math.max(0, Math.floor(limit)) : 0;
}

function taskParams(task: Task): TaskParams {
  return {
    name: task.name,
    state: task.state,
    etag: task.etag,
    labels: taskLabelsToJson(task),
    json: taskToJson(task),
  };
}

/** `(?, ?, ...)` for an IN list of `count` values (count >= 1). */
function placeholders(count: number): string {
  return `(${new Array<string>(count).fill('?').join(', ')})`;
}

/**
 * The embedded default Store: one SQLite file (better-sqlite3, WAL), one replica. Every
 * method is one synchronous statement or one transaction, so each is atomic on its own and
 * calls never interleave; the methods are async only because the Store contract is.
 */
export class SqliteStore implements Store {
  private closed = false;
  private checkpointer: WalCheckpointer | undefined;
  private readonly statements: ReturnType<typeof prepareStatements>;
  private readonly dynamic: StatementCache;
  private readonly historyPruner: HistoryPruner;
  private readonly eventPruner: EventPruner;
  private readonly writes: GroupCommit;
  private readonly ackTransaction: (published: number) => void;
  private readonly ackTaskTransaction: (sequences: number[]) => void;
  private readonly outboxLimit: number;
  /** Outbox watermark: every event at or below it has left the outbox (schema.ts). */
  private published: number;
  /** Events waiting in each outbox, kept in memory so the limit check costs no COUNT per write. */
  private outboxCount: number;
  private taskOutboxCount: number;
  private dropped = 0;
  /** Rows in `tasks`, counted once at open and kept by the committed creates and deletes. */
  private taskCount: number;

  private constructor(
    private readonly db: Database.Database,
    options: SqliteStoreOptions,
  ) {
    this.statements = prepareStatements(db);
    this.dynamic = new StatementCache(db);
    this.historyPruner = new HistoryPruner(
      db,
      positiveInteger('historyPerTask', options.historyPerTask ?? DEFAULT_HISTORY_PER_TASK),
    );
    this.eventPruner = new EventPruner(
      db,
      positiveInteger('eventRetention', options.eventRetention ?? DEFAULT_EVENT_RETENTION),
    );
    // IMMEDIATE: take the write lock up front, so no other connection to the file can make
    // this transaction fail half-way when it upgrades from reading to writing.
    this.outboxLimit = positiveInteger('outboxLimit', options.outboxLimit ?? DEFAULT_OUTBOX_LIMIT);
    this.published = 0;
    this.outboxCount = 0;
    this.taskOutboxCount = 0;
    this.reloadOutboxState();
    this.taskCount = this.statements.countTasks.get()!.n;
    // Inside the batch transaction each write is a nested transaction, i.e. a savepoint.
    const nested = db.transaction((write: () => unknown) => write());
    this.writes = new GroupCommit(nested, (run) => {
      try {
        nested.immediate(run);
      } catch (error) {
        // The batch did not commit: what the writes counted in memory did not happen either.
        this.reloadOutboxState();
        throw error;
      }
    });
    this.ackTransaction = db.transaction((published: number) => {
      this.statements.setWatermark.run(published);
    }).immediate;
    this.ackTaskTransaction = db.transaction((sequences: number[]) => {
      for (const sequence of sequences) this.taskOutboxCount -= this.statements.ackTaskEvent.run(sequence).changes;
    }).immediate;
  }

  /**
   * Open (creating it, and its directory, when missing) the store file at `path` and bring
   * its schema up to date. Synchronous: it is ready when it returns.
   */
  static open(path: string, options: SqliteStoreOptions = {}): SqliteStore {
    const db = openDatabase(path);
    try {
      const store = new SqliteStore(db, options);
      const inMemory = path === '' || path === ':memory:';
      if (!inMemory && options.checkpointInWorker !== false) {
        store.checkpointer = WalCheckpointer.start(db, path, { busyTimeoutMs: BUSY_TIMEOUT_MS, onError: options.onCheckpointError });
      }
      return store;
    } catch (error) {
      db.close();
      throw error;
    }
  }

  async createTask(task: Task): Promise<void> {
    this.ensureOpen();
    await this.writes.submit(() => this.createInTransaction(task));
    this.taskCount++; // committed
  }

  async getTask(name: string): Promise<Task | undefined> {
    this.ensureOpen();
    const row = this.statements.getTask.get(name);
    return row === undefined ? undefined : taskFromJson(row.json);
  }

  async listTasks(query: { afterName: string; limit: number; filter: TaskFilter }): Promise<Task[]> {
    this.ensureOpen();
    const limit = rowLimit(query.limit);
    if (limit === 0) return [];
    const { sql, params } = listTasksSql(query.afterName, query.filter, limit);
    const rows = this.dynamic.get(sql).all(...params) as JsonRow[];
    return rows.map((row) => taskFromJson(row.json));
  }

  async allTasks(): Promise<Task[]> {
    this.ensureOpen();
    // Iterate rather than .all(): at a million tasks, rows and tasks are never all held twice.
    const tasks: Task[] = [];
    for (const row of this.statements.allTasks.iterate()) tasks.push(taskFromJson(row.json));
    return tasks;
  }

  /** Kept in memory (this process is the file's one writer): COUNT(*) walks an index, 10.8 ms at 1M tasks. */
  async countTasks(): Promise<number> {
    this.ensureOpen();
    return this.taskCount;
  }

  async replaceTask(task: Task, expectedEtag: string): Promise<void> {
    this.ensureOpen();
    await this.writes.submit(() => this.replaceInTransaction(task, expectedEtag));
  }

  async addRunCount(name: string): Promise<void> {
    this.ensureOpen();
    await this.writes.submit(() => this.statements.addRunCount.run(name));
  }

  /** An empty `expectedEtag` counts as not given (proto3 strings cannot be absent). */
  async deleteTask(name: string, expectedEtag?: string, time: number = Date.now()): Promise<void> {
    this.ensureOpen();
    await this.writes.submit(() => this.deleteInTransaction(name, expectedEtag === '' ? undefined : expectedEtag, time));
    this.taskCount--; // committed
  }

  /**
   * Also refuses (returns undefined, writes nothing) to move a stored execution out of a final
   * state. Without `claim`, a second non-manual execution for an occurrence that already has
   * one breaks the occurrence's uniqueness and throws: claim new scheduled executions.
   */
  async recordExecution(
    execution: Execution,
    event: { id: string; time: number },
    options?: { claim?: boolean },
  ): Promise<ExecutionEvent | undefined> {
    this.ensureOpen();
    const claim = options?.claim === true;
    return this.writes.submit(() => this.recordInTransaction(execution, event, claim));
  }

  /**
   * Apply an event whose sequence was assigned elsewhere (the JetStream stream), for a store
   * used as a replica's read model. Idempotent by sequence; like recordExecution it never moves
   * an execution out of a final state nor adds a second execution for a claimed occurrence.
   * Queues nothing in the outbox. Returns whether the event was applied.
   */
  applyReplicatedEvent(event: ExecutionEvent): boolean {
    this.ensureOpen();
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
      const json = this.upsertExecutionRow(execution);
      this.dynamic
        .get('INSERT INTO events (sequence, id, task_name, time, execution) VALUES (?, ?, ?, ?, ?)')
        .run(event.sequence, event.id, execution.taskName, event.time, json);
      if (stored === undefined) this.historyPruner.executionAdded(execution.taskName);
      // Nothing to publish: when no event of this store's own waits, the watermark follows the
      // replicated events, so they never count as waiting. (A store is either a replica's read
      // model or the recording store with an outbox, not both.)
      const follows = this.outboxCount === 0 && event.sequence > this.published;
      if (follows) this.statements.setWatermark.run(event.sequence);
      this.eventPruner.eventAdded(event.sequence, follows ? event.sequence : this.published);
      return true;
    }).immediate();
    if (applied && this.outboxCount === 0 && event.sequence > this.published) this.published = event.sequence;
    return applied;
  }

  async getExecution(id: string): Promise<Execution | undefined> {
    this.ensureOpen();
    const row = this.statements.getExecution.get(id);
    return row === undefined ? undefined : executionFromJson(row.json);
  }

  /** `beforeKey`/`nextKey`: `${scheduledTime}:${id}` of the last row of the page ('' = none). */
  async listExecutions(query: {
    taskName: string;
    states: ExecutionState[];
    limit: number;
    beforeKey: string;
  }): Promise<{ executions: Execution[]; nextKey: string }> {
    this.ensureOpen();
    const limit = rowLimit(query.limit);
    const before = query.beforeKey === '' ? undefined : decodeExecutionPageKey(query.beforeKey);
    if (limit === 0) return { executions: [], nextKey: '' };
    // One row more than asked tells whether another page exists, without a COUNT.
    const { sql, params } = listExecutionsSql(query.taskName, query.states, before, limit + 1);
    const rows = this.dynamic.get(sql).all(...params) as ExecutionKeyRow[];
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    const last = page[page.length - 1];
    return {
      executions: page.map((row) => executionFromJson(row.json)),
      nextKey: more && last !== undefined ? encodeExecutionPageKey(last) : '',
    };
  }

  /** Oldest occurrence first. */
  async executionsInStates(states: ExecutionState[]): Promise<Execution[]> {
    this.ensureOpen();
    const distinct = [...new Set(states)].sort();
    if (distinct.length === 0) return [];
    const statement = this.dynamic.get(
      `SELECT json FROM executions WHERE state IN ${placeholders(distinct.length)} ORDER BY scheduled_time, seq`,
    );
    return (statement.all(...distinct) as JsonRow[]).map((row) => executionFromJson(row.json));
  }

  async lastOccurrence(taskName: string): Promise<number | undefined> {
    this.ensureOpen();
    return this.statements.lastOccurrence.get(taskName)?.t ?? undefined;
  }

  /** One index seek per task, all in one synchronous call. */
  async lastExecutions(taskNames: string[]): Promise<Map<string, Execution>> {
    this.ensureOpen();
    const last = new Map<string, Execution>();
    for (const name of taskNames) {
      const row = this.statements.lastExecution.get(name);
      if (row !== undefined) last.set(name, executionFromJson(row.json));
    }
    return last;
  }

  /** One pass over the claim index (task_name, scheduled_time) instead of a query per task. */
  async lastOccurrences(): Promise<Map<string, number>> {
    this.ensureOpen();
    const last = new Map<string, number>();
    for (const row of this.statements.lastOccurrences.iterate()) last.set(row.name, row.t);
    return last;
  }

  /** Latest scheduled time; among equal times, the one recorded first is older. */
  async lastExecution(taskName: string): Promise<Execution | undefined> {
    this.ensureOpen();
    const row = this.statements.lastExecution.get(taskName);
    return row === undefined ? undefined : executionFromJson(row.json);
  }

  async eventsAfter(afterSequence: number, limit: number): Promise<ExecutionEvent[]> {
    this.ensureOpen();
    return this.statements.eventsAfter.all(afterSequence, rowLimit(limit)).map(eventFromRow);
  }

  /** From sqlite_sequence, so it stays right when the newest events have been pruned. */
  async lastSequence(): Promise<number> {
    this.ensureOpen();
    return this.statements.lastSequence.get()?.seq ?? 0;
  }

  async pendingOutbox(limit: number, afterSequence?: number): Promise<ExecutionEvent[]> {
    this.ensureOpen();
    const after = afterSequence === undefined ? this.published : Math.max(this.published, afterSequence);
    return this.statements.eventsAfter.all(after, rowLimit(limit)).map(eventFromRow);
  }

  /** Both outboxes: execution events and task events waiting for NATS. */
  async outboxSize(): Promise<number> {
    this.ensureOpen();
    return this.outboxCount + this.taskOutboxCount;
  }

  /**
   * Moves the watermark over the waiting events at the head of the outbox that are in
   * `sequences`, stopping at the first one that is not. Unknown or already acked sequences are
   * ignored; one acked behind an event still waiting stays queued (see the Store interface).
   * One indexed range read and one row update, however many events.
   */
  async ackOutbox(sequences: number[]): Promise<void> {
    this.ensureOpen();
    const acked = sequences.filter((s) => s > this.published).sort((a, b) => a - b);
    if (acked.length === 0) return;
    // The head of the outbox, as long as the acked list (duplicates only make it longer).
    const head = this.statements.sequencesAbove.all(this.published, acked.length);
    let count = 0;
    for (let i = 0; i < acked.length && count < head.length; i++) {
      if (acked[i] === head[count]) count++;
      else if (acked[i]! > head[count]!) break; // a waiting event that was not acked
      // else a duplicate or an unknown sequence below the next waiting one: skip it
    }
    if (count === 0) return;
    this.ackTransaction(head[count - 1]!);
    this.published = head[count - 1]!;
    this.outboxCount -= count;
  }

  async droppedOutboxEvents(): Promise<number> {
    return this.dropped;
  }

  async pendingTaskOutbox(limit: number): Promise<TaskEvent[]> {
    this.ensureOpen();
    return this.statements.pendingTaskEvents.all(rowLimit(limit)).map((row) => ({
      sequence: row.sequence,
      id: row.id,
      time: row.time,
      change: row.change,
      task: taskFromJson(row.task),
    }));
  }

  async ackTaskOutbox(sequences: number[]): Promise<void> {
    this.ensureOpen();
    if (sequences.length > 0) this.ackTaskTransaction(sequences);
  }

  /** Idempotent; every other method rejects with UnavailableError afterwards. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.writes.flush();
    this.closed = true;
    // The worker's connection goes first: the last one to close checkpoints and removes the WAL.
    await this.checkpointer?.stop();
    this.db.close();
  }

  /** The outbox watermark and count as the file has them. */
  private reloadOutboxState(): void {
    this.published = this.statements.watermark.get()!.published;
    this.outboxCount = this.statements.countAbove.get(this.published)!.n;
    this.taskOutboxCount = this.statements.taskEventCount.get()!.n;
  }

  private ensureOpen(): void {
    if (this.closed) throw new UnavailableError('the sqlite store is closed');
  }

  private createInTransaction(task: Task): void {
    if (this.statements.insertTask.run(taskParams(task)).changes === 0) throw new TaskAlreadyExistsError(task.name);
    this.queueTaskEvent('created', task, task.updateTime);
  }

  private replaceInTransaction(task: Task, expectedEtag: string): void {
    const before = this.statements.getTask.get(task.name);
    if (this.statements.replaceTask.run({ ...taskParams(task), expected: expectedEtag }).changes > 0) {
      const change = taskChangeOf(before === undefined ? undefined : taskFromJson(before.json), task);
      if (change !== undefined) this.queueTaskEvent(change, task, task.updateTime);
      return;
    }
    if (before === undefined) throw new TaskNotFoundError(task.name);
    throw new EtagMismatchError(task.name);
  }

  private deleteInTransaction(name: string, expectedEtag: string | undefined, time: number): void {
    const before = this.statements.getTask.get(name);
    const result =
      expectedEtag === undefined
        ? this.statements.deleteTask.run(name)
        : this.statements.deleteTaskIfEtag.run(name, expectedEtag);
    if (result.changes > 0) {
      this.queueTaskEvent('deleted', taskFromJson(before!.json), time);
      return;
    }
    if (before === undefined) throw new TaskNotFoundError(name);
    throw new EtagMismatchError(name);
  }

  /** Write the execution's row; returns its JSON, which the event stores too. */
  private upsertExecutionRow(execution: Execution): string {
    const json = executionToJson(execution);
    this.statements.upsertExecution.run({
      id: execution.id,
      taskName: execution.taskName,
      scheduledTime: execution.scheduledTime,
      trigger: execution.trigger,
      state: execution.state,
      json,
    });
    return json;
  }

  private queueTaskEvent(change: TaskChange, task: Task, time: number): void {
    this.statements.insertTaskEvent.run({ id: randomUUID(), taskName: task.name, change, time, task: taskToJson(task) });
    this.taskOutboxCount++;
    const excess = this.taskOutboxCount - this.outboxLimit;
    if (excess > 0) {
      this.taskOutboxCount -= this.statements.dropOldestTaskEvents.run(excess).changes;
      this.dropped += excess;
    }
  }

  private recordInTransaction(
    execution: Execution,
    event: { id: string; time: number },
    claim: boolean,
  ): ExecutionEvent | undefined {
    const stored = this.statements.executionStateById.get(execution.id);
    if (claim) {
      // A claim is for a new execution: an existing id, or any non-manual execution of the
      // same occurrence, means somebody already handles it.
      if (stored !== undefined) return undefined;
      if (this.statements.occurrenceClaimed.get(execution.taskName, execution.scheduledTime) !== undefined) {
        return undefined;
      }
    }
    if (stored !== undefined && isFinalState(stored.state) && stored.state !== execution.state) return undefined;

    const json = this.upsertExecutionRow(execution);
    const sequence = Number(
      this.statements.insertEvent.run({ id: event.id, taskName: execution.taskName, time: event.time, execution: json })
        .lastInsertRowid,
    );
    // Above the watermark, the new event waits in the outbox: nothing more to write for it.
    let published = this.published;
    const excess = this.outboxCount + 1 - this.outboxLimit;
    if (excess > 0) {
      // At the limit the oldest waiting events give way (the watermark moves past them): the
      // history (and watch replay) keeps them.
      published = this.statements.nthAbove.get(published, excess - 1)!.sequence;
      this.statements.setWatermark.run(published);
    }
    if (stored === undefined) this.historyPruner.executionAdded(execution.taskName);
    this.eventPruner.eventAdded(sequence, published);
    // Counted once every statement of this write went through (a throw undoes its savepoint).
    this.outboxCount += 1 - Math.max(0, excess);
    this.published = published;
    this.dropped += Math.max(0, excess);
    // A copy of what was written: the caller's object may change later, the event may not.
    return { sequence, id: event.id, time: event.time, execution: cloneExecution(execution) };
  }
}
