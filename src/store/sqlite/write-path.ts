import type Database from 'better-sqlite3';
import { GroupCommit } from './group-commit.js';
import { SqliteWrites, type WriteCounters, type WriteLimits, type WriteOp, type WriteValue } from './sqlite-writes.js';

/** Where the store's writes run: on the event loop's own connection, or on the writer thread. */
export interface WritePath {
  /** Settles once the write has committed (or failed: nothing of it was written). */
  submit(op: WriteOp): Promise<WriteValue>;
  /** The writer's counts as of the last settled write. */
  counters(): WriteCounters;
  /** Write what is queued, then let go of the writing connection. */
  close(): Promise<void>;
  /** False once writes can only fail (the writer thread is gone). */
  healthy(): boolean;
}

/**
 * Writes on the caller's own connection, grouped per turn of the event loop (GroupCommit):
 * for ':memory:' stores, which another connection cannot reach (the JetStream store's views).
 */
export class InThreadWritePath implements WritePath {
  readonly writes: SqliteWrites;
  private readonly group: GroupCommit;

  constructor(db: Database.Database, limits: WriteLimits) {
    const writes = new SqliteWrites(db, limits);
    this.writes = writes;
    // Inside the batch transaction each write is a nested transaction, i.e. a savepoint.
    // IMMEDIATE: take the write lock up front, so no other connection to the file can make
    // the batch fail half-way when it upgrades from reading to writing.
    const nested = db.transaction((write: () => unknown) => write());
    this.group = new GroupCommit(nested, (run) => {
      try {
        nested.immediate(run);
      } catch (error) {
        // The batch did not commit: what the writes counted in memory did not happen either.
        writes.reload();
        throw error;
      }
    });
  }

  submit(op: WriteOp): Promise<WriteValue> {
    return this.group.submit(() => this.writes.apply(op));
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
}
