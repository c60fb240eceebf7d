import type { Execution, ExecutionEvent, ExecutionState } from '../domain/execution.js';
import type { Task, TaskPlan } from '../domain/task.js';
import type { TaskEvent } from '../domain/task-event.js';
import type { TaskFilter } from '../domain/task-filter.js';

/**
 * Everything cronplane keeps: tasks, execution history, occurrence claims and the event
 * outbox. Implementations: sqlite/ (one replica, the default), jetstream/ (replicas).
 * All methods may be called concurrently; each one is atomic on its own.
 */
export interface Store {
  /**
   * Insert a new task. Throws TaskAlreadyExistsError when the name is taken.
   * Task writes (create, replace with a new etag, delete) also queue a TaskEvent in the task
   * outbox, in the same transaction.
   */
  createTask(task: Task): Promise<void>;
  getTask(name: string): Promise<Task | undefined>;
  /** Tasks with name > `afterName`, ordered by name, at most `limit`, matching `filter`. */
  listTasks(query: { afterName: string; limit: number; filter: TaskFilter }): Promise<Task[]>;
  /** Every task, for the engine to load at start. */
  allTasks(): Promise<Task[]>;
  /**
   * Every task's plan (what scheduling needs), for the engine to load at start instead of
   * allTasks: it then reads a task with getTask when it fires. Optional; a store that holds
   * its tasks in memory anyway gains nothing from it.
   */
  allTaskPlans?(): Promise<TaskPlan[]>;
  countTasks(): Promise<number>;
  /**
   * Replace a task if its stored etag equals `expectedEtag`.
   * Throws TaskNotFoundError or EtagMismatchError; nothing is written then.
   */
  replaceTask(task: Task, expectedEtag: string): Promise<void>;
  /**
   * Delete a task (its history stays). Throws TaskNotFoundError, or EtagMismatchError when
   * `expectedEtag` is given and stale. `time` (epoch ms) stamps the deleted event.
   */
  deleteTask(name: string, expectedEtag?: string, time?: number): Promise<void>;
  /**
   * Add one to the task's run count and change nothing else (no etag, no task event): the
   * per-fire bookkeeping, without reading and rewriting the whole task. A missing task is
   * ignored. Optional; without it the engine reads the task and replaces it. The caller
   * serialises it with its own read-modify-writes of the task (the engine's task lock).
   */
  addRunCount?(name: string): Promise<void>;
  /** False once the store can take no more writes, or publish no more events, until the process restarts. Optional: true. */
  healthy?(): boolean;
  /** Busy time of a thread that does the store's writes (its utilisation is their headroom). */
  writerBusySeconds?(): number | undefined;
  /** Busy time of a thread that publishes the store's outboxes. */
  publisherBusySeconds?(): number | undefined;

  /**
   * Record an execution change and its event in one transaction: upsert the execution,
   * append the event (the store assigns `sequence`) and queue it in the outbox.
   *
   * With `claim`, the execution is new and handles a scheduled occurrence: if any execution
   * of that task already exists for that scheduled time, nothing is written and `undefined`
   * is returned. That is how each occurrence runs exactly once, across restarts (and replicas).
   *
   * The caller hands `execution` over: the store may keep it as the event's execution, so it
   * must not be changed afterwards (ExecutionRecorder passes a snapshot of its own).
   */
  recordExecution(
    execution: Execution,
    event: { id: string; time: number },
    options?: { claim?: boolean },
  ): Promise<ExecutionEvent | undefined>;
  /**
   * Two changes of one execution in one transaction, as two events in order: `first` (the
   * start of an attempt, held back while a short action ran: never a final state), then
   * `then`. Refused together, as recordExecution refuses (never a claim). Optional: without it
   * the recorder records them one after the other. Both executions are handed over.
   */
  recordTwoChanges?(
    first: { execution: Execution; event: { id: string; time: number } },
    then: { execution: Execution; event: { id: string; time: number } },
  ): Promise<[ExecutionEvent, ExecutionEvent] | undefined>;
  getExecution(id: string): Promise<Execution | undefined>;
  /** Newest first (by scheduled time, then id); `beforeKey` is the opaque key of the last row of the previous page. */
  listExecutions(query: {
    taskName: string;
    states: ExecutionState[];
    limit: number;
    beforeKey: string;
  }): Promise<{ executions: Execution[]; nextKey: string }>;
  /** Executions in one of these states (for crash recovery: RUNNING etc. left by a dead process). */
  executionsInStates(states: ExecutionState[]): Promise<Execution[]>;
  /** The latest scheduled time among the task's non-manual executions: where the schedule left off. */
  lastOccurrence(taskName: string): Promise<number | undefined>;
  /**
   * lastOccurrence of every task that has one, in one pass: start-up at a million tasks cannot
   * afford a query per task. Optional; without it the engine asks task by task.
   */
  lastOccurrences?(): Promise<Map<string, number>>;
  /** The task's most recent execution of any trigger. */
  lastExecution(taskName: string): Promise<Execution | undefined>;
  /**
   * lastExecution of each of these tasks (those without one are absent), in one call: a
   * ListTasks page. Optional; without it the control plane asks task by task.
   */
  lastExecutions?(taskNames: string[]): Promise<Map<string, Execution>>;

  /** Kept events with sequence > `afterSequence`, ascending, at most `limit`. */
  eventsAfter(afterSequence: number, limit: number): Promise<ExecutionEvent[]>;
  /** The highest sequence assigned so far (0 when none). */
  lastSequence(): Promise<number>;
  /**
   * Outbox events not yet accepted by NATS, oldest first; with `afterSequence`, only those
   * after it (a publisher with batches in flight reads on past what it has sent).
   */
  pendingOutbox(limit: number, afterSequence?: number): Promise<ExecutionEvent[]>;
  outboxSize(): Promise<number>;
  /**
   * Remove events from the outbox once NATS has accepted them. The outbox is a queue in
   * sequence order: acks take events off its head, so an event acked while an older one still
   * waits may stay queued until that one is acked too (and may then be published once more:
   * consumers dedupe by event id, JetStream by Nats-Msg-Id). The publisher acks in order.
   */
  ackOutbox(sequences: number[]): Promise<void>;
  /** Outbox events dropped (oldest first) because the outbox was at its limit, since the store opened. */
  droppedOutboxEvents(): Promise<number>;

  /** Task events not yet accepted by NATS, oldest first. */
  pendingTaskOutbox(limit: number): Promise<TaskEvent[]>;
  ackTaskOutbox(sequences: number[]): Promise<void>;

  close(): Promise<void>;
}
