import type Database from 'better-sqlite3';

/**
 * Keeps about `retention` events for WatchExecutions replay (eventsAfter). Runs once every
 * `interval` sequences (a tenth of the retention, at most 1000) and deletes events older than
 * the newest `retention` that NATS has accepted; events still in the outbox are kept until
 * acked, whatever their age, so an outage of NATS never loses one.
 */
export class EventPruner {
  private readonly interval: number;
  private readonly prune: Database.Statement<{ cutoff: number }>;

  constructor(
    db: Database.Database,
    private readonly retention: number,
  ) {
    this.interval = Math.max(1, Math.min(1000, Math.floor(retention / 10)));
    this.prune = db.prepare(`
      DELETE FROM events
      WHERE sequence <= @cutoff
        AND NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.sequence = events.sequence)`);
  }

  /** Call inside the transaction that appended the event with this sequence. */
  eventAdded(sequence: number): void {
    if (sequence % this.interval !== 0) return;
    const cutoff = sequence - this.retention;
    if (cutoff > 0) this.prune.run({ cutoff });
  }
}
