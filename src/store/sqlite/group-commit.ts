/**
 * Group commit: calls made in the same turn of the event loop are written in ONE transaction,
 * each inside its own savepoint, and every caller's promise settles only after that commit.
 * A commit costs far more than the rows in it, so at thousands of events a second this is the
 * difference between keeping up and falling behind; each call stays atomic on its own.
 */
export class GroupCommit<A extends unknown[], R> {
  private queue: Array<{ args: A; resolve: (r: R) => void; reject: (e: unknown) => void }> = [];
  private scheduled = false;

  /**
   * @param item one call's writes, run inside a savepoint (a throw undoes just that call)
   * @param batch runs a function inside one IMMEDIATE transaction
   */
  constructor(
    private readonly item: (...args: A) => R,
    private readonly batch: (run: () => void) => void,
    private readonly maxBatch = 1000,
  ) {}

  submit(...args: A): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ args, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Write everything queued now (also called before reads that must see it, and at close). */
  flush(): void {
    this.scheduled = false;
    while (this.queue.length > 0) {
      const items = this.queue.splice(0, this.maxBatch);
      const outcomes: Array<{ ok: true; value: R } | { ok: false; error: unknown }> = [];
      try {
        this.batch(() => {
          for (const it of items) {
            try {
              outcomes.push({ ok: true, value: this.item(...it.args) });
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
