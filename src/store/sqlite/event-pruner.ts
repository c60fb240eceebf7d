import type Database from 'better-sqlite3';

/**
 * Keeps about `retention` events for WatchExecutions replay (eventsAfter). Runs once every
 * `interval` sequences (a tenth of the retention, at most 1000) and deletes events older than
 * the newest `retention` that NATS has accepted; events still in the outbox (above the
 * outbox watermark) are kept until acked, whatever their age, so an outage of NATS never
 * loses one. Deleting is a primary-key range; one run deletes at most ten intervals' worth,
 * so the first run after a long outage does not stall the write it rides on.
 */
export class EventPruner {
  private readonly interval: number;
  private readonly prune: Database.Statement<{ upTo: number }>;
  /**
   * Pruned up to here, as far as this process knows: only bounds how much one run deletes
   * (a run undone with its transaction is simply covered by the next one).
   */
  private prunedThrough: number;

  constructor(
    db: Database.Database,
    private readonly retention: number,
  ) {
    this.interval = Math.max(1, Math.min(1000, Math.floor(retention / 10)));
    this.prune = db.prepare('DELETE FROM events WHERE sequence <= @upTo');
    const oldest = db.prepare<[], { s: number | null }>('SELECT MIN(sequence) AS s FROM events').get()?.s ?? null;
    this.prunedThrough = oldest === null ? 0 : oldest - 1;
  }

  /**
   * Call inside the transaction that appended the event with this sequence; `published` is
   * the outbox watermark (events above it wait for NATS and stay).
   */
  eventAdded(sequence: number, published: number): void {
    if (sequence % this.interval !== 0) return;
    const upTo = Math.min(sequence - this.retention, published, this.prunedThrough + 10 * this.interval);
    if (upTo <= this.prunedThrough) return;
    this.prune.run({ upTo });
    this.prunedThrough = upTo;
  }
}
