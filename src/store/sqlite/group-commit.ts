/**
 * Group commit: writes submitted in the same turn of the event loop run in ONE transaction,
 * each inside its own savepoint, and every caller's promise settles only after that commit.
 * A commit costs far more than the rows in it, so at thousands of events a second this is the
 * difference between keeping up and falling behind; each write stays atomic on its own.
 */
export class GroupCommit {
  private queue: Array<{ write: () => unknown; resolve: (r: unknown) => void; reject: (e: unknown) => void }> = [];
  private scheduled = false;

  /**
   * @param inSavepoint runs a function as a nested transaction (a savepoint: a throw undoes just it)
   * @param inTransaction runs a function inside one IMMEDIATE transaction
   */
  constructor(
    private readonly inSavepoint: (write: () => unknown) => unknown,
    private readonly inTransaction: (run: () => void) => void,
    private readonly maxBatch = 500,
  ) {}

  submit<R>(write: () => R): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ write, resolve: resolve as (r: unknown) => void, reject });
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

  private commit(items: GroupCommit['queue']): void {
    if (items.length === 0) return;
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    try {
      this.inTransaction(() => {
        for (const it of items) {
          try {
            outcomes.push({ ok: true, value: this.inSavepoint(it.write) });
          } catch (error) {
            outcomes.push({ ok: false, error });
          }
        }
      });
    } catch (error) {
      // The commit itself failed (disk full, I/O error): nothing of the batch was written.
      for (const it of items) it.reject(error);
      return;
    }
    items.forEach((it, i) => {
      const o = outcomes[i]!;
      if (o.ok) it.resolve(o.value);
      else it.reject(o.error);
    });
  }
}
