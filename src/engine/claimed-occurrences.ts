import type { Execution } from '../domain/execution.js';
import { TimerHeap } from './timer-heap.js';

const SEPARATOR = '\u0000';

/**
 * Occurrences claimed ahead of their time: stored PENDING a moment before they are due, so at
 * the due time the action starts without waiting for a store write. Kept by due time (one
 * heap for all tasks, the engine's single timer covers it) and by task (pause, delete and
 * cancel find them).
 */
export class ClaimedOccurrences {
  private readonly heap = new TimerHeap();
  private readonly byKey = new Map<string, Execution>();
  private readonly byTask = new Map<string, Map<number, Execution>>();

  get size(): number {
    return this.byKey.size;
  }

  add(execution: Execution): void {
    const key = keyOf(execution.taskName, execution.scheduledTime);
    this.byKey.set(key, execution);
    this.heap.set(key, execution.scheduledTime);
    let mine = this.byTask.get(execution.taskName);
    if (mine === undefined) this.byTask.set(execution.taskName, (mine = new Map()));
    mine.set(execution.scheduledTime, execution);
  }

  /** The earliest due time, if any. */
  nextAt(): number | undefined {
    return this.heap.peek()?.at;
  }

  /** Remove and return the first one due at or before `now`. */
  popDue(now: number): Execution | undefined {
    const due = this.heap.popDue(now);
    if (due === undefined) return undefined;
    const exec = this.byKey.get(due.key)!;
    this.forget(due.key, exec);
    return exec;
  }

  /** Remove and return every one of `taskName`'s. */
  takeTask(taskName: string): Execution[] {
    const mine = [...(this.byTask.get(taskName)?.values() ?? [])];
    for (const e of mine) this.remove(e);
    return mine.sort((a, b) => a.scheduledTime - b.scheduledTime);
  }

  /** Remove and return the one with this execution id. */
  takeId(id: string): Execution | undefined {
    for (const e of this.byKey.values()) {
      if (e.id !== id) continue;
      this.remove(e);
      return e;
    }
    return undefined;
  }

  takeAll(): Execution[] {
    const all = [...this.byKey.values()];
    for (const e of all) this.remove(e);
    return all.sort((a, b) => a.scheduledTime - b.scheduledTime);
  }

  /** Due times of `taskName`'s, ascending. */
  timesOf(taskName: string): number[] {
    const mine = this.byTask.get(taskName);
    return mine === undefined ? [] : [...mine.keys()].sort((a, b) => a - b);
  }

  private remove(e: Execution): void {
    const key = keyOf(e.taskName, e.scheduledTime);
    this.heap.delete(key);
    this.forget(key, e);
  }

  private forget(key: string, e: Execution): void {
    this.byKey.delete(key);
    const mine = this.byTask.get(e.taskName);
    mine?.delete(e.scheduledTime);
    if (mine?.size === 0) this.byTask.delete(e.taskName);
  }
}

function keyOf(taskName: string, at: number): string {
  return `${taskName}${SEPARATOR}${at}`;
}
