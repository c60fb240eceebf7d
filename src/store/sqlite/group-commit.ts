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
    private readonly maxBatch = 2000,
  ) {}

  submit<R>(write: () => R): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ write, resolve: resolve as (r: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Write everything queued now (also called at close). */
  flush(): void {
    this.scheduled = false;
    while (this.queue.length > 0) {
      const items = this.queue.splice(0, this.maxBatch);
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
        continue;
      }
      items.forEach((it, i) => {
        const o = outcomes[i]!;
        if (o.ok) it.resolve(o.value);
        else it.reject(o.error);
      });
    }
  }
}
