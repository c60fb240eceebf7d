import type Database from 'better-sqlite3';
import { GroupCommit } from './group-commit.js';
import { WriteBatch } from './write-batch.js';
import { SqliteWrites, type WriteCounters, type WriteLimits, type WriteOp, type WriteValue } from './sqlite-writes.js';

/** Where the store's writes run: on the event loop's own connection, or on the writer thread. */
export interface WritePath {
  /**
   * Settles once the write has committed (or failed: nothing of it was written). `onCommitted`
   * runs synchronously as the outcome arrives, before anything else can see the new counters.
   */
  submit(op: WriteOp, onCommitted?: (value: WriteValue) => void): Promise<WriteValue>;
  /** The writer's counts as of the last settled write. */
  counters(): WriteCounters;
  /** Write what is queued, then let go of the writing connection. */
  close(): Promise<void>;
  /** False once writes can only fail (the writer thread is gone), or events can no longer be published (the publisher thread is). */
  healthy(): boolean;
  /** The writer thread's busy time so far; undefined when writes run on the event loop. */
  busySeconds(): number | undefined;
}

/**
 * Writes on the caller's own connection, grouped per turn of the event loop (GroupCommit):
 * for ':memory:' stores, which another connection cannot reach (the JetStream store's views).
 */
export class InThreadWritePath implements WritePath {
  readonly writes: SqliteWrites;
  private readonly group: GroupCommit<WriteOp>;

  constructor(db: Database.Database, limits: WriteLimits) {
    this.writes = new SqliteWrites(db, limits);
    const batch = new WriteBatch(db, this.writes);
    this.group = new GroupCommit((ops) => batch.run(ops));
  }

  submit(op: WriteOp, onCommitted?: (value: WriteValue) => void): Promise<WriteValue> {
    return this.group.submit(op, onCommitted);
  }

  counters(): WriteCounters {
    return this.writes.counters();
  }

  async close(): Promise<void> {
    this.group.flush();
  }

  healthy(): boolean {
    return true;
  }

  busySeconds(): undefined {
    return undefined;
  }
}
