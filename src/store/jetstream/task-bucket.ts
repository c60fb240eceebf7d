import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV, Kvm, KvWatchEntry } from '@nats-io/kv';
import type { Logger } from 'pino';
import { EtagMismatchError, TaskAlreadyExistsError, TaskNotFoundError } from '../../domain/errors.js';
import type { TaskFilter } from '../../domain/task-filter.js';
import type { Task } from '../../domain/task.js';
import { taskFromJson, taskToJson } from '../sqlite/rows.js';
import { openBucket } from './kv-bucket.js';
import { followBucket, type KvFollower } from './kv-follower.js';
import { fromKvKeyToken, kvKeyToken } from './kv-key.js';
import { asStoreError, isWrongLastSequence } from './nats-errors.js';
import { TaskCache } from './task-cache.js';

/** Called for every change the bucket watch sees: any replica's writes, this one's included. */
export type TaskChangeListener = (name: string, task: Task | undefined) => void;

interface Current {
  task: Task;
  revision: number;
}

/** Compare-and-set rounds before a write that keeps losing to other writers gives up. */
const CAS_ATTEMPTS = 5;

/**
 * Tasks in a KV bucket (key = task name, value = the task as rows.ts JSON): writes are
 * compare-and-set on the key's revision, reads come from a watched in-memory copy.
 */
export class TaskBucket {
  private readonly cache = new TaskCache();
  private readonly listeners = new Set<TaskChangeListener>();
  private follower: KvFollower | undefined;

  private constructor(
    private readonly kv: KV,
    private readonly log: Logger,
  ) {}

  /** Open (creating) the bucket and load every task before resolving. */
  static async open(kvm: Kvm, jsm: JetStreamManager, bucket: string, replicas: number, log: Logger, timeoutMs: number): Promise<TaskBucket> {
    const kv = await openBucket(kvm, jsm, bucket, { replicas, allowDirect: false }, log);
    const tasks = new TaskBucket(kv, log);
    tasks.follower = await followBucket(kv, (entry, initial) => tasks.onEntry(entry, initial), { log, timeoutMs, what: 'tasks' });
    return tasks;
  }

  watch(listener: TaskChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get(name: string): Task | undefined {
    return this.cache.get(name)?.task;
  }

  list(afterName: string, limit: number, filter: TaskFilter): Task[] {
    return this.cache.list(afterName, limit, filter);
  }

  all(): Task[] {
    return this.cache.all();
  }

  count(): number {
    return this.cache.count();
  }

  async create(task: Task): Promise<Task> {
    const json = taskToJson(task);
    try {
      const revision = await this.kv.create(kvKeyToken(task.name), json);
      const stored = taskFromJson(json);
      this.cache.applyOwnPut(stored, revision);
      return stored;
    } catch (err) {
      if (isWrongLastSequence(err)) throw new TaskAlreadyExistsError(task.name);
      throw asStoreError(err, 'create the task');
    }
  }

  /** Replace if the stored etag is `expectedEtag`; returns the task as it was before. */
  async replace(task: Task, expectedEtag: string): Promise<{ before: Task; after: Task }> {
    const json = taskToJson(task);
    const after = taskFromJson(json);
    const before = await this.compareAndSet(task.name, expectedEtag, async (current) => {
      const revision = await this.kv.update(kvKeyToken(task.name), json, current.revision);
      this.cache.applyOwnPut(after, revision);
    });
    return { before, after };
  }

  /** Delete (if `expectedEtag` is given, only at that etag); returns the deleted task. */
  async delete(name: string, expectedEtag: string | undefined): Promise<Task> {
    return this.compareAndSet(name, expectedEtag, async (current) => {
      await this.kv.delete(kvKeyToken(name), { previousSeq: current.revision });
      this.cache.applyOwnDelete(name, current.revision);
    });
  }

  stop(): void {
    this.follower?.stop();
    this.listeners.clear();
  }

  /**
   * Check the etag, then write at the revision checked. The first round trusts the cache (no
   * round trip); a cached answer that refuses, or a write that lost its compare-and-set, is
   * settled by reading the key itself.
   */
  private async compareAndSet(name: string, expectedEtag: string | undefined, write: (current: Current) => Promise<void>): Promise<Task> {
    let fromCache = true;
    for (let round = 0; round < CAS_ATTEMPTS; ) {
      const current = fromCache ? this.cache.get(name) : await this.read(name);
      const refusal =
        current === undefined
          ? new TaskNotFoundError(name)
          : expectedEtag !== undefined && current.task.etag !== expectedEtag
            ? new EtagMismatchError(name)
            : undefined;
      if (refusal !== undefined) {
        if (!fromCache) throw refusal;
        fromCache = false;
        continue;
      }
      round++;
      try {
        await write(current!);
        return current!.task;
      } catch (err) {
        if (!isWrongLastSequence(err)) throw asStoreError(err, 'write the task');
        fromCache = false;
      }
    }
    throw new EtagMismatchError(name);
  }

  /** The key as the bucket holds it now (also refreshes the cache). */
  private async read(name: string): Promise<Current | undefined> {
    let entry;
    try {
      entry = await this.kv.get(kvKeyToken(name));
    } catch (err) {
      throw asStoreError(err, 'read the task');
    }
    if (entry === null) return undefined;
    if (entry.operation !== 'PUT') {
      this.cache.applyKnown(name, undefined, entry.revision);
      return undefined;
    }
    const task = taskFromJson(entry.string());
    this.cache.applyKnown(name, task, entry.revision);
    return { task, revision: entry.revision };
  }

  private onEntry(entry: KvWatchEntry, initial: boolean): void {
    const name = fromKvKeyToken(entry.key);
    const task = entry.operation === 'PUT' ? taskFromJson(entry.string()) : undefined;
    this.cache.applyWatched(name, task, entry.revision);
    if (initial) return;
    for (const listener of this.listeners) {
      try {
        listener(name, task);
      } catch (err) {
        this.log.error({ err, task: name }, 'task change listener failed');
      }
    }
  }
}
