import type { WriteValue } from './sqlite-writes.js';
import { settleWrites, type PendingWrite, type WriteOutcome } from './write-batch.js';

/**
 * Group commit: items submitted in the same turn of the event loop go to `commitBatch` together
 * (one transaction), and every caller's promise settles only after that commit. A commit costs
 * far more than the rows in it, so at thousands of events a second this is the difference
 * between keeping up and falling behind.
 */
export class GroupCommit<T> {
  private queue: Array<{ item: T; pending: PendingWrite }> = [];
  private scheduled = false;

  /**
   * @param commitBatch commits the items, returning each one's outcome; throws when the commit
   *   failed (nothing of the batch was written)
   */
  constructor(
    private readonly commitBatch: (items: T[]) => WriteOutcome[],
    private readonly maxBatch = 500,
  ) {}

  /** `onCommitted` runs synchronously once the item committed, before any promise of the batch settles. */
  submit(item: T, onCommitted?: (value: WriteValue) => void): Promise<WriteValue> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, pending: { onCommitted, resolve, reject } });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flushBatch());
      }
    });
  }

  /**
   * One transaction of at most maxBatch writes, then the next in a later turn: timers and I/O
   * run in between, so a burst of thousands of writes never holds the event loop for long
   * (a due action waits for at most one batch).
   */
  private flushBatch(): void {
    this.scheduled = false;
    this.commit(this.queue.splice(0, this.maxBatch));
    if (this.queue.length > 0 && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flushBatch());
    }
  }

  /** Write everything queued now (at close). */
  flush(): void {
    while (this.queue.length > 0) this.commit(this.queue.splice(0, this.maxBatch));
  }

  private commit(entries: GroupCommit<T>['queue']): void {
    if (entries.length === 0) return;
    let outcomes: WriteOutcome[];
    try {
      outcomes = this.commitBatch(entries.map((e) => e.item));
    } catch (error) {
      for (const e of entries) e.pending.reject(error);
      return;
    }
    settleWrites(entries.map((e) => e.pending), outcomes);
  }
}
