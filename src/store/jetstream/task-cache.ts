import { matchesTaskFilter } from '../../domain/task-filter-parse.js';
import type { TaskFilter } from '../../domain/task-filter.js';
import type { Task } from '../../domain/task.js';

/** A task as last seen, with the KV revision it was seen at; `task` undefined = deleted. */
export interface TaskSlot {
  task: Task | undefined;
  revision: number;
}

/**
 * Every task of the bucket in memory, for getTask/listTasks/allTasks/countTasks without a
 * round trip. Fed by two sources that may arrive in either order: the bucket watch (every
 * replica's writes) and this replica's own writes (applied as soon as KV acknowledged them, so
 * a replica always reads its own writes). A change applies only if its revision is newer than
 * what is held, so a late watch entry never undoes a newer own write.
 */
export class TaskCache {
  private readonly slots = new Map<string, TaskSlot>();
  private live = 0;
  /** Names of live tasks in order; rebuilt lazily after a name appears or disappears. */
  private sorted: string[] | undefined = [];
  /** Highest revision the watch has delivered: nothing older can come from it any more. */
  private watched = 0;

  /** The live task and its revision, if any. */
  get(name: string): { task: Task; revision: number } | undefined {
    const slot = this.slots.get(name);
    return slot?.task === undefined ? undefined : { task: slot.task, revision: slot.revision };
  }

  count(): number {
    return this.live;
  }

  /**
   * A change seen by the watch. A delete at or after the held revision removes the slot
   * outright: the watch is past it, so nothing older can come back for that name.
   */
  applyWatched(name: string, task: Task | undefined, revision: number): void {
    this.watched = Math.max(this.watched, revision);
    const slot = this.slots.get(name);
    if (slot !== undefined && revision < slot.revision) return;
    if (task === undefined) {
      this.remove(name);
      return;
    }
    if (slot !== undefined && revision === slot.revision) return;
    this.set(name, task, revision);
  }

  /**
   * A state known from outside the watch: this replica's own put acknowledged at `revision`, or
   * a direct read of the key. A delete leaves a tombstone at its revision, so older watch
   * entries still on their way cannot resurrect the task; the watch's own delivery of the
   * delete marker clears it.
   */
  applyKnown(name: string, task: Task | undefined, revision: number): void {
    const slot = this.slots.get(name);
    if (slot !== undefined && revision <= slot.revision) return;
    if (task !== undefined) {
      this.set(name, task, revision);
      return;
    }
    if (slot?.task !== undefined) this.nameRemoved();
    if (revision <= this.watched) this.slots.delete(name);
    else this.slots.set(name, { task: undefined, revision });
  }

  /** This replica's own put, acknowledged by KV at `revision`. */
  applyOwnPut(task: Task, revision: number): void {
    this.applyKnown(task.name, task, revision);
  }

  /**
   * This replica's own delete of the entry at `previousRevision`. KV does not return the delete
   * marker's revision, but it is the key's next one, so at least previousRevision + 1.
   */
  applyOwnDelete(name: string, previousRevision: number): void {
    this.applyKnown(name, undefined, previousRevision + 1);
  }

  /** Every live task, by name. */
  all(): Task[] {
    return this.names().map((name) => this.slots.get(name)!.task!);
  }

  /** Live tasks with name > afterName, matching `filter`, by name, at most `limit`. */
  list(afterName: string, limit: number, filter: TaskFilter): Task[] {
    const out: Task[] = [];
    if (!(limit > 0)) return out;
    const names = this.names();
    const prefix = filter.namePrefix ?? '';
    let i = upperBound(names, afterName > prefix ? afterName : prefix, afterName >= prefix);
    for (; i < names.length && out.length < limit; i++) {
      const name = names[i]!;
      if (!name.startsWith(prefix)) break;
      const task = this.slots.get(name)!.task!;
      if (matchesTaskFilter(task, filter)) out.push(task);
    }
    return out;
  }

  private set(name: string, task: Task, revision: number): void {
    const before = this.slots.get(name);
    if (before?.task === undefined) {
      this.live++;
      this.sorted = undefined;
    }
    this.slots.set(name, { task, revision });
  }

  private remove(name: string): void {
    const slot = this.slots.get(name);
    if (slot === undefined) return;
    if (slot.task !== undefined) this.nameRemoved();
    this.slots.delete(name);
  }

  private nameRemoved(): void {
    this.live--;
    this.sorted = undefined;
  }

  private names(): string[] {
    if (this.sorted === undefined) {
      const names: string[] = [];
      for (const [name, slot] of this.slots) if (slot.task !== undefined) names.push(name);
      this.sorted = names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    }
    return this.sorted;
  }
}

/** Index of the first name > key (or >= key when `exclusive` is false). */
function upperBound(names: readonly string[], key: string, exclusive: boolean): number {
  let lo = 0;
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const name = names[mid]!;
    if (name < key || (exclusive && name === key)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
