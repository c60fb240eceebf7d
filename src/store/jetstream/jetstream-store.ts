import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { pino, type Logger } from 'pino';
import { UnavailableError } from '../../domain/errors.js';
import { isFinalState, type Execution, type ExecutionEvent, type ExecutionState } from '../../domain/execution.js';
import { taskChangeOf, type TaskEvent } from '../../domain/task-event.js';
import type { TaskFilter } from '../../domain/task-filter.js';
import type { Task } from '../../domain/task.js';
import { ensureEventsStream } from '../../events/events-stream.js';
import { executionFromJson, executionToJson } from '../sqlite/rows.js';
import type { Store } from '../store.js';
import { ClaimBook } from './claim-book.js';
import { EventPublisher } from './event-publisher.js';
import { ExecutionView } from './execution-view.js';
import {
  bucketNames,
  DEFAULT_BUCKET_PREFIX,
  DEFAULT_EVENT_MAX_AGE_MS,
  DEFAULT_OPEN_TIMEOUT_MS,
  DEFAULT_WRITE_DEADLINE_MS,
  type JetStreamStoreOptions,
} from './jetstream-store-options.js';
import { Membership } from './membership.js';
import { asStoreError } from './nats-errors.js';
import { OccurrenceProgress } from './occurrence-progress.js';
import { TaskBucket, type TaskChangeListener } from './task-bucket.js';

/** How long a write waits for the read model to apply it before applying it out of turn. */
const READ_YOUR_WRITE_TIMEOUT_MS = 5_000;
/**
 * recordExecution keeps trying its claim and its publish through transient failures (a NATS
 * node down, its streams electing new leaders) for the write deadline (default 20 s), all tries
 * together; the publish gets at least PUBLISH_MIN_MS of it, so a claim that took long is not
 * left without its event. Past it the write rejects with UnavailableError; with the
 * read-your-write wait after it, recordExecution settles within about 30 s by default.
 */
const PUBLISH_MIN_MS = 5_000;
/** A retried final state: how long to look for the earlier try in the stream before publishing again. */
const RETRY_LOOKUP_MS = 3_000;

interface Parts {
  log: Logger;
  tasks: TaskBucket;
  claims: ClaimBook;
  progress: OccurrenceProgress;
  view: ExecutionView;
  publisher: EventPublisher;
  membership: Membership;
  writeDeadlineMs: number;
}

/**
 * The replicated Store: several cronplane replicas on one NATS JetStream cluster.
 * - Tasks: a KV bucket, watched by every replica (getTask/listTasks read a local copy).
 * - History and events: ONE stream, the same the SQLite mode publishes to. Publishing an event
 *   is the write; its stream sequence is its `sequence`, global across replicas. Queries are
 *   answered by a local read model rebuilt from the stream (see ExecutionView).
 * - Exactly once: occurrence claims and final states are atomic KV creates (see ClaimBook).
 * - Membership: who is alive, for taking over a dead replica's work.
 * There is no outbox: an event is stored when the stream acknowledged it.
 */
export class JetStreamStore implements Store {
  /** The live replicas; the engine uses it to find work of dead ones and to spread its own. */
  readonly membership: Membership;
  private readonly log: Logger;
  private readonly tasks: TaskBucket;
  private readonly claims: ClaimBook;
  private readonly progress: OccurrenceProgress;
  private readonly view: ExecutionView;
  private readonly publisher: EventPublisher;
  private readonly writeDeadlineMs: number;
  private closed = false;

  private constructor(parts: Parts) {
    this.log = parts.log;
    this.tasks = parts.tasks;
    this.claims = parts.claims;
    this.progress = parts.progress;
    this.view = parts.view;
    this.publisher = parts.publisher;
    this.membership = parts.membership;
    this.writeDeadlineMs = parts.writeDeadlineMs;
  }

  /**
   * Create or open the stream and buckets, load every task, replay the stream into the read
   * model, and join the membership. Resolves when this replica is up to date.
   */
  static async open(options: JetStreamStoreOptions): Promise<JetStreamStore> {
    const log = options.log ?? pino({ level: 'silent' });
    if (!Number.isSafeInteger(options.replicas) || options.replicas < 1) {
      throw new RangeError(`replicas must be a positive integer, got ${options.replicas}`);
    }
    if (options.node === '') throw new RangeError('node must not be empty');
    const writeDeadlineMs = options.writeDeadlineMs ?? DEFAULT_WRITE_DEADLINE_MS;
    if (!(writeDeadlineMs > 0)) throw new RangeError(`writeDeadlineMs must be positive, got ${writeDeadlineMs}`);
    if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(options.subjectPrefix)) {
      throw new RangeError(`subjectPrefix must be subject tokens joined by dots, got "${options.subjectPrefix}"`);
    }
    const names = bucketNames(options.bucketPrefix ?? DEFAULT_BUCKET_PREFIX);
    const timeoutMs = options.openTimeoutMs ?? DEFAULT_OPEN_TIMEOUT_MS;
    const { nc, replicas } = options;

    await ensureEventsStream(nc, {
      name: options.streamName,
      subjectPrefix: options.subjectPrefix,
      maxAgeMs: options.eventMaxAgeMs ?? DEFAULT_EVENT_MAX_AGE_MS,
      replicas,
    });
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const kvm = new Kvm(js);
    const claims = await ClaimBook.open(kvm, jsm, names.claims, replicas, options.node, log);
    const progress = await OccurrenceProgress.open(kvm, jsm, names.progress, replicas, log);
    const view = await ExecutionView.start({
      js,
      jsm,
      streamName: options.streamName,
      subjectPrefix: options.subjectPrefix,
      historyPerTask: options.historyPerTask,
      log,
      timeoutMs,
    });
    let tasks: TaskBucket | undefined;
    try {
      tasks = await TaskBucket.open(kvm, jsm, names.tasks, replicas, log, timeoutMs);
      const membership = await Membership.start({
        kvm,
        jsm,
        bucket: names.nodes,
        node: options.node,
        replicas,
        log,
        ttlMs: options.membershipTtlMs,
      });
      const publisher = new EventPublisher(js, options.subjectPrefix, `/cronplane/${options.node}`, log);
      log.info(
        { stream: options.streamName, sequence: view.appliedSequence, tasks: tasks.count(), replicas: membership.liveNodes() },
        'jetstream store open',
      );
      return new JetStreamStore({ log, tasks, claims, progress, view, publisher, membership, writeDeadlineMs });
    } catch (err) {
      tasks?.stop();
      await view.close();
      throw err;
    }
  }

  /**
   * Follow task changes of every replica (this one's included), as the bucket watch delivers
   * them, from now on. Returns the unsubscribe.
   */
  watchTasks(listener: TaskChangeListener): () => void {
    return this.tasks.watch(listener);
  }

  /**
   * Every execution event as the read model applies it, in stream (= sequence) order, from any
   * replica, this one's included (before its recordExecution resolves). Feed WatchExecutions
   * from here, not from the engine's own events, or events of other replicas are never seen.
   */
  watchExecutionEvents(listener: (event: ExecutionEvent) => void): () => void {
    return this.view.onEvent(listener);
  }

  async createTask(task: Task): Promise<void> {
    this.ensureOpen();
    const stored = await this.tasks.create(task);
    await this.publisher.publishTask('created', stored, stored.updateTime);
  }

  /** The returned objects are shared with the local copy: treat them as immutable. */
  async getTask(name: string): Promise<Task | undefined> {
    this.ensureOpen();
    return this.tasks.get(name);
  }

  async listTasks(query: { afterName: string; limit: number; filter: TaskFilter }): Promise<Task[]> {
    this.ensureOpen();
    return this.tasks.list(query.afterName, query.limit, query.filter);
  }

  async allTasks(): Promise<Task[]> {
    this.ensureOpen();
    return this.tasks.all();
  }

  async countTasks(): Promise<number> {
    this.ensureOpen();
    return this.tasks.count();
  }

  async replaceTask(task: Task, expectedEtag: string): Promise<void> {
    this.ensureOpen();
    const { before, after } = await this.tasks.replace(task, expectedEtag);
    const change = taskChangeOf(before, after);
    if (change !== undefined) await this.publisher.publishTask(change, after, after.updateTime);
  }

  /** An empty `expectedEtag` counts as not given (proto3 strings cannot be absent). */
  async deleteTask(name: string, expectedEtag?: string, time: number = Date.now()): Promise<void> {
    this.ensureOpen();
    const deleted = await this.tasks.delete(name, expectedEtag === '' ? undefined : expectedEtag);
    await this.publisher.publishTask('deleted', deleted, time);
  }

  /**
   * Refuses (undefined, nothing published) a claim whose occurrence another replica (or an
   * earlier run) has, a change out of a final state, and a final state another replica set
   * first or differently. Resolves once the event is in the stream and in this replica's read
   * model; undefined also when the read model refused it after all (another replica's final
   * state landed in the stream just before it).
   *
   * Settles within a bounded time: throws UnavailableError when the claim or the stream did not
   * answer within the write deadline (the write may or may not have landed). Retrying it is
   * safe: a final state this replica already decided is accepted again, and is ignored
   * (undefined, nothing published) when the read model already holds exactly that execution.
   */
  async recordExecution(
    execution: Execution,
    event: { id: string; time: number },
    options?: { claim?: boolean },
  ): Promise<ExecutionEvent | undefined> {
    this.ensureOpen();
    const snapshot = executionFromJson(executionToJson(execution));
    const claim = options?.claim === true;
    const deadline = Date.now() + this.writeDeadlineMs;
    const left = () => Math.max(0, deadline - Date.now());
    try {
      const stored = await this.view.store.getExecution(snapshot.id);
      if (claim) {
        if (stored !== undefined || !(await this.claims.claimOccurrence(snapshot, left()))) return undefined;
      } else {
        if (stored !== undefined && isFinalState(stored.state)) {
          if (stored.state !== snapshot.state) return undefined;
          // Exactly this is stored already: a retry of a write that landed after all.
          if (sameExecution(stored, snapshot)) return undefined;
        }
        if (isFinalState(snapshot.state)) {
          const decided = await this.claims.claimFinal(snapshot, left());
          if (decided === 'refused') return undefined;
          if (decided === 'held' && (await this.landedBefore(snapshot))) return undefined;
        }
      }
      const [ack] = await Promise.all([
        this.publisher.publishExecution({ sequence: 0, id: event.id, time: event.time, execution: snapshot }, Math.max(Math.min(PUBLISH_MIN_MS, this.writeDeadlineMs), left())),
        claim && snapshot.trigger !== 'MANUAL' ? this.progress.record(snapshot.taskName, snapshot.scheduledTime) : undefined,
      ]);
      const recorded: ExecutionEvent = { sequence: ack.seq, id: event.id, time: event.time, execution: snapshot };
      if (!(await this.view.catchUp(ack.seq, READ_YOUR_WRITE_TIMEOUT_MS)) && !this.closed) {
        this.log.warn({ sequence: ack.seq }, 'the read model is behind the stream; applying own event out of turn');
        this.view.applyNow(recorded);
      }
      // Refused by the read model: another replica's change got into the stream first and made
      // the execution final (or took its occurrence). Every replica refuses it alike.
      if (!this.closed && !(await this.view.holds(ack.seq))) return undefined;
      return { ...recorded, execution: executionFromJson(executionToJson(snapshot)) };
    } catch (err) {
      throw asStoreError(err, 'record the execution');
    }
  }

  /**
   * This replica had decided this final state before (its claim is there): a retry of a write
   * whose outcome was unknown, or a restatement. True when an earlier try did land with exactly
   * this execution, so publishing it again would only repeat the event.
   */
  private async landedBefore(snapshot: Execution): Promise<boolean> {
    await this.view.catchUpWithStream(RETRY_LOOKUP_MS);
    const stored = await this.view.store.getExecution(snapshot.id);
    return stored !== undefined && sameExecution(stored, snapshot);
  }

  async getExecution(id: string): Promise<Execution | undefined> {
    this.ensureOpen();
    return this.view.store.getExecution(id);
  }

  async listExecutions(query: {
    taskName: string;
    states: ExecutionState[];
    limit: number;
    beforeKey: string;
  }): Promise<{ executions: Execution[]; nextKey: string }> {
    this.ensureOpen();
    return this.view.store.listExecutions(query);
  }

  async executionsInStates(states: ExecutionState[]): Promise<Execution[]> {
    this.ensureOpen();
    return this.view.store.executionsInStates(states);
  }

  /** From the read model; for a task whose events the stream no longer keeps, from the progress bucket. */
  async lastOccurrence(taskName: string): Promise<number | undefined> {
    this.ensureOpen();
    const fromView = await this.view.store.lastOccurrence(taskName);
    if (fromView !== undefined) return fromView;
    try {
      return await this.progress.last(taskName);
    } catch (err) {
      throw asStoreError(err, 'read where the schedule left off');
    }
  }

  async lastExecution(taskName: string): Promise<Execution | undefined> {
    this.ensureOpen();
    return this.view.store.lastExecution(taskName);
  }

  /** Sequences are the stream's: increasing, with gaps (task events, refused changes). */
  async eventsAfter(afterSequence: number, limit: number): Promise<ExecutionEvent[]> {
    this.ensureOpen();
    return this.view.store.eventsAfter(afterSequence, limit);
  }

  async lastSequence(): Promise<number> {
    this.ensureOpen();
    return Math.max(this.view.appliedSequence, await this.view.store.lastSequence());
  }

  /** No outbox: an event is written by publishing it. */
  async pendingOutbox(): Promise<ExecutionEvent[]> {
    this.ensureOpen();
    return [];
  }

  async outboxSize(): Promise<number> {
    this.ensureOpen();
    return 0;
  }

  async ackOutbox(): Promise<void> {
    this.ensureOpen();
  }

  async droppedOutboxEvents(): Promise<number> {
    return 0;
  }

  async pendingTaskOutbox(): Promise<TaskEvent[]> {
    this.ensureOpen();
    return [];
  }

  async ackTaskOutbox(): Promise<void> {
    this.ensureOpen();
  }

  /**
   * Stop following the bucket and the stream, leave the membership (deleting this replica's
   * key), drop the read model. Idempotent. The NATS connection stays open: the caller owns it.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.tasks.stop();
    await this.membership.stop();
    await this.view.close();
  }

  private ensureOpen(): void {
    if (this.closed) throw new UnavailableError('the jetstream store is closed');
  }
}

/** The same execution in every recorded field (as both would be stored). */
function sameExecution(a: Execution, b: Execution): boolean {
  return executionToJson(a) === executionToJson(b);
}
