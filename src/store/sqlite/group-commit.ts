import type { WriteOutcome } from './write-batch.js';

/**
 * Group commit: items submitted in the same turn of the event loop go to `commitBatch` together
 * (one transaction), and every caller's promise settles only after that commit. A commit costs
 * far more than the rows in it, so at thousands of events a second this is the difference
 * between keeping up and falling behind.
 */
export class GroupCommit<T> {
  private queue: Array<{ item: T; onCommitted: ((value: unknown) => void) | undefined; resolve: (r: unknown) => void; reject: (e: unknown) => void }> = [];
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
  submit(item: T, onCommitted?: (value: unknown) => void): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, onCommitted, resolve, reject });
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
      for (const e of entries) e.reject(error);
      return;
    }
    outcomes.forEach((o, i) => {
      if (o.ok) entries[i]!.onCommitted?.(o.value);
    });
    entries.forEach((e, i) => {
      const o = outcomes[i]!;
      if (o.ok) e.resolve(o.value);
      else e.reject(o.error);
    });
  }
}
