import type Database from 'better-sqlite3';
import { UnavailableError } from '../../domain/errors.js';
import type { Execution, ExecutionEvent, ExecutionState } from '../../domain/execution.js';
import type { TaskEvent } from '../../domain/task-event.js';
import type { TaskFilter } from '../../domain/task-filter.js';
import type { Task, TaskPlan } from '../../domain/task.js';
import type { Store } from '../store.js';
import { CLAIMS_OCCURRENCE_SQL } from './claim-key-sql.js';
import { listExecutionsSql } from './list-executions-sql.js';
import { listTasksSql } from './list-tasks-sql.js';
import { openDatabase } from './open-database.js';
import { decodeExecutionPageKey, encodeExecutionPageKey } from './page-key.js';
import { outboxHead, forgetPublished } from './outbox-head.js';
import { eventFromRow, executionFromJson, taskEventFromRow, taskFromRow, type EventRow } from './rows.js';
import { readCounters, type WriteLimits } from './sqlite-writes.js';
import { StatementCache } from './statement-cache.js';
import { EVENTS_AFTER_SQL, PENDING_TASK_EVENTS_SQL, TASK_COLUMNS, rowLimit, TASK_PLAN_COLUMNS, executionRow, taskPlanFromRow, type TaskPlanRow, type ExecutionKeyRow, type JsonRow, type TaskEventRow, type TaskRow } from './statements.js';
import { InThreadWritePath, type WritePath } from './write-path.js';
import type { PublishSettings } from './publisher-wire.js';
import { WriterThread } from './writer-thread.js';

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
   * Write a file on a thread of its own (writer-thread.ts). Default true; false writes on the
   * caller's connection, grouped per turn, which tests on a fake clock rely on (a write then
   * settles within a few turns of the event loop, not after a thread's real-time round trip).
   * ':memory:' always writes in-thread.
   */
  writerThread?: boolean;
  /** Told when the writer thread of a file store fails (its writes then fail UNAVAILABLE). */
  onWriterError?: (message: string) => void;
  /**
   * Publish the outboxes to NATS from a thread of their own (publisher-worker.ts), so the event
   * loop does none of it; `publishesEvents` says whether it does (not for in-thread writes,
   * whose owner publishes with an OutboxPublisher of its own). Its log lines go to
   * `onPublisherLog`, its failure to `onPublisherError`.
   */
  publishEvents?: PublishSettings;
  onPublisherLog?: (line: string) => void;
  onPublisherError?: (message: string) => void;
}

/**
 * Recent events kept for the outbox publisher, so it does not decode them from the file: about
 * 3 s of 10k fires/s (30k events/s), at most ~50 MB, held only while NATS is that far behind.
 * (20k was too few there: the newest events went uncached, the publisher slowed down decoding
 * them, and fell further behind.)
 */
const RECENT_EVENTS_LIMIT = 100_000;

/** About a day of a busy node's events during a NATS outage; a few GB of disk at most. */
export const DEFAULT_OUTBOX_LIMIT = 1_000_000;

/** Enough history to see a task's recent behaviour; older runs live in logs and on NATS. */
export const DEFAULT_HISTORY_PER_TASK = 1000;
/** Enough replay for watchers that reconnect after minutes, at a few KB per event. */
export const DEFAULT_EVENT_RETENTION = 100_000;

/** The reads with fixed SQL, prepared once when the store opens. */
function readStatements(db: Database.Database) {
  return {
    getTask: db.prepare<[string], TaskRow>(`SELECT ${TASK_COLUMNS} FROM tasks WHERE name = ?`),
    allTasks: db.prepare<[], TaskRow>(`SELECT ${TASK_COLUMNS} FROM tasks ORDER BY name`),
    allTaskPlans: db.prepare<[], TaskPlanRow>(`SELECT ${TASK_PLAN_COLUMNS} FROM task_plans ORDER BY name`).raw(),
    getExecution: db.prepare<[string], JsonRow>('SELECT json FROM executions WHERE id = ?'),
    lastOccurrence: db.prepare<[string], { t: number | null }>(`
      SELECT MAX(scheduled_time) AS t FROM executions WHERE task_name = ? AND ${CLAIMS_OCCURRENCE_SQL}`),
    lastOccurrences: db.prepare<[], { name: string; t: number }>(`
      SELECT task_name AS name, MAX(scheduled_time) AS t FROM executions WHERE ${CLAIMS_OCCURRENCE_SQL} GROUP BY task_name`),
    lastExecution: db.prepare<[string], JsonRow>(`
      SELECT json FROM executions WHERE task_name = ? ORDER BY scheduled_time DESC, seq DESC LIMIT 1`),
    eventsAfter: db.prepare<[number, number], EventRow>(EVENTS_AFTER_SQL),
    lastSequence: db.prepare<[], { seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'events'"),
    pendingTaskEvents: db.prepare<[number], TaskEventRow>(PENDING_TASK_EVENTS_SQL),
  };
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

/** `(?, ?, ...)` for an IN list of `count` values (count >= 1). */
function placeholders(count: number): string {
  return `(${new Array<string>(count).fill('?').join(', ')})`;
}

/**
 * The embedded default Store: one SQLite file (better-sqlite3, WAL), one replica. Reads run
 * on the event loop's connection, one synchronous statement each. Writes run on a writer
 * thread with its own connection (writer-thread.ts; in-thread for ':memory:'), grouped per
 * turn into one transaction, each write atomic on its own; a write's promise settles once it
 * has committed, and reads see it from then on.
 */
export class SqliteStore implements Store {
  private closed = false;
  /**
   * Events this process recorded that wait in the outbox, by sequence (ascending): the outbox
   * publisher takes them from here instead of reading and decoding their rows again. Bounded;
   * what is not here (from before a restart, or beyond the bound during an outage) is read.
   */
  private readonly recent = new Map<number, ExecutionEvent>();
  private readonly statements: ReturnType<typeof readStatements>;
  private readonly dynamic: StatementCache;

  private constructor(
    private readonly db: Database.Database,
    private readonly writes: WritePath,
    /** A thread of the store publishes the outboxes (SqliteStoreOptions.publishEvents). */
    readonly publishesEvents: boolean,
  ) {
    this.statements = readStatements(db);
    this.dynamic = new StatementCache(db);
  }

  /**
   * Open (creating it, and its directory, when missing) the store file at `path` and bring
   * its schema up to date. Synchronous: it is ready when it returns.
   */
  static open(path: string, options: SqliteStoreOptions = {}): SqliteStore {
    const limits: WriteLimits = {
      historyPerTask: positiveInteger('historyPerTask', options.historyPerTask ?? DEFAULT_HISTORY_PER_TASK),
      eventRetention: positiveInteger('eventRetention', options.eventRetention ?? DEFAULT_EVENT_RETENTION),
      outboxLimit: positiveInteger('outboxLimit', options.outboxLimit ?? DEFAULT_OUTBOX_LIMIT),
    };
    const db = openDatabase(path);
    try {
      const inMemory = path === '' || path === ':memory:';
      if (inMemory || options.writerThread === false) return new SqliteStore(db, new InThreadWritePath(db, limits), false);
      const writes = WriterThread.start(path, limits, readCounters(db), {
        ...(options.onWriterError === undefined ? {} : { onError: options.onWriterError }),
        ...(options.publishEvents === undefined ? {} : { publish: options.publishEvents }),
        ...(options.onPublisherLog === undefined ? {} : { onPublisherLog: options.onPublisherLog }),
        ...(options.onPublisherError === undefined ? {} : { onPublisherError: options.onPublisherError }),
      });
      return new SqliteStore(db, writes, options.publishEvents !== undefined);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  async createTask(task: Task): Promise<void> {
    this.ensureOpen();
    await this.writes.submit({ op: 'createTask', task });
  }

  async getTask(name: string): Promise<Task | undefined> {
    this.ensureOpen();
    const row = this.statements.getTask.get(name);
    return row === undefined ? undefined : taskFromRow(row);
  }

  async listTasks(query: { afterName: string; limit: number; filter: TaskFilter }): Promise<Task[]> {
    this.ensureOpen();
    const limit = rowLimit(query.limit);
    if (limit === 0) return [];
    const { sql, params } = listTasksSql(query.afterName, query.filter, limit);
    const rows = this.dynamic.get(sql).all(...params) as TaskRow[];
    return rows.map(taskFromRow);
  }

  async allTasks(): Promise<Task[]> {
    this.ensureOpen();
    // Iterate rather than .all(): at a million tasks, rows and tasks are never all held twice.
    const tasks: Task[] = [];
    for (const row of this.statements.allTasks.iterate()) tasks.push(taskFromRow(row));
    return tasks;
  }

  /** From task_plans: a few columns per task where allTasks decodes every task's JSON (a quarter of the time at 1M). */
  async allTaskPlans(): Promise<TaskPlan[]> {
    this.ensureOpen();
    const plans: TaskPlan[] = [];
    for (const row of this.statements.allTaskPlans.iterate()) plans.push(taskPlanFromRow(row));
    return plans;
  }

  /** Kept in memory by the writer (the file's one writer): COUNT(*) walks an index, 10.8 ms at 1M tasks. */
  async countTasks(): Promise<number> {
    this.ensureOpen();
    return this.writes.counters().taskCount;
  }

  async replaceTask(task: Task, expectedEtag: string): Promise<void> {
    this.ensureOpen();
    await this.writes.submit({ op: 'replaceTask', task, expectedEtag });
  }

  async addRunCount(name: string): Promise<void> {
    this.ensureOpen();
    await this.writes.submit({ op: 'addRunCount', name });
  }

  /** An empty `expectedEtag` counts as not given (proto3 strings cannot be absent). */
  async deleteTask(name: string, expectedEtag?: string, time: number = Date.now()): Promise<void> {
    this.ensureOpen();
    await this.writes.submit({ op: 'deleteTask', name, expectedEtag: expectedEtag === '' ? undefined : expectedEtag, time });
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
    // Encoded here, not on the writer thread: strings cross to it several times cheaper than
    // the object would, and the row is the execution as it was when recorded.
    const row = executionRow(execution);
    // Handed over by the caller (see Store): kept as the event's execution without a copy.
    let stored: ExecutionEvent | undefined;
    // Kept for the outbox as the commit is reported, before the counters that announce it are
    // visible: the outbox then never reads back from the file an event recorded here.
    await this.writes.submit({ op: 'recordExecution', row, event, claim: options?.claim === true }, (sequence) => {
      if (sequence === undefined) return;
      stored = { sequence, id: event.id, time: event.time, execution };
      this.keepForOutbox(stored);
    });
    return stored;
  }

  /** See Store.recordTwoChanges: one write with both events (their sequences are consecutive). */
  async recordTwoChanges(
    first: { execution: Execution; event: { id: string; time: number } },
    then: { execution: Execution; event: { id: string; time: number } },
  ): Promise<[ExecutionEvent, ExecutionEvent] | undefined> {
    this.ensureOpen();
    const earlier = executionRow(first.execution);
    const row = executionRow(then.execution);
    let stored: [ExecutionEvent, ExecutionEvent] | undefined;
    const op = { op: 'recordExecution', row, event: then.event, claim: false, first: { state: earlier.state, json: earlier.json, event: first.event } } as const;
    await this.writes.submit(op, (sequence) => {
      if (sequence === undefined) return;
      stored = [
        { sequence: sequence - 1, id: first.event.id, time: first.event.time, execution: first.execution },
        { sequence, id: then.event.id, time: then.event.time, execution: then.execution },
      ];
      for (const event of stored) this.keepForOutbox(event);
    });
    return stored;
  }

  /** Nothing is kept when the publisher thread publishes: then nothing here would ack it. */
  private keepForOutbox(event: ExecutionEvent): void {
    if (!this.publishesEvents && this.recent.size < RECENT_EVENTS_LIMIT) this.recent.set(event.sequence, event);
  }

  /**
   * Apply an event whose sequence was assigned elsewhere (the JetStream stream), for a store
   * used as a replica's read model (':memory:', writing in-thread): see SqliteWrites.
   */
  applyReplicatedEvent(event: ExecutionEvent): boolean {
    this.ensureOpen();
    if (!(this.writes instanceof InThreadWritePath)) throw new Error('applyReplicatedEvent needs an in-memory store');
    return this.writes.writes.applyReplicatedEvent(event);
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

  /** One pass over the executions_task index (no row is read) instead of a query per task. */
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
    const { published, lastSequence } = this.writes.counters();
    const after = afterSequence === undefined ? published : Math.max(published, afterSequence);
    return outboxHead(this.recent, after, rowLimit(limit), lastSequence, (from, n) => this.statements.eventsAfter.all(from, n).map(eventFromRow));
  }

  /** Both outboxes: execution events and task events waiting for NATS. */
  async outboxSize(): Promise<number> {
    this.ensureOpen();
    const { outboxCount, taskOutboxCount } = this.writes.counters();
    return outboxCount + taskOutboxCount;
  }

  /** See SqliteWrites.ackOutbox: the acked head of the outbox, in one indexed read and one update. */
  async ackOutbox(sequences: number[]): Promise<void> {
    this.ensureOpen();
    if (sequences.length === 0) return;
    await this.writes.submit({ op: 'ackOutbox', sequences });
    forgetPublished(this.recent, this.writes.counters().published);
  }

  async droppedOutboxEvents(): Promise<number> {
    return this.writes.counters().dropped;
  }

  async pendingTaskOutbox(limit: number): Promise<TaskEvent[]> {
    this.ensureOpen();
    if (this.writes.counters().taskOutboxCount === 0) return []; // the publisher asks every round
    return this.statements.pendingTaskEvents.all(rowLimit(limit)).map(taskEventFromRow);
  }

  async ackTaskOutbox(sequences: number[]): Promise<void> {
    this.ensureOpen();
    if (sequences.length > 0) await this.writes.submit({ op: 'ackTaskOutbox', sequences });
  }

  healthy(): boolean {
    return !this.closed && this.writes.healthy();
  }

  writerBusySeconds(): number | undefined {
    return this.writes.busySeconds();
  }

  publisherBusySeconds(): number | undefined {
    return this.writes instanceof WriterThread ? this.writes.publisherBusySeconds() : undefined;
  }

  /** Idempotent; every other method rejects with UnavailableError afterwards. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // The writer's connection goes first: the last one to close checkpoints and removes the WAL.
    await this.writes.close();
    this.db.close();
  }

  private ensureOpen(): void {
    if (this.closed) throw new UnavailableError('the sqlite store is closed');
  }
}
