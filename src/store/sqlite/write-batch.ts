import type Database from 'better-sqlite3';
import { EtagMismatchError, TaskAlreadyExistsError, TaskNotFoundError } from '../../domain/errors.js';
import type { SqliteWrites, WriteOp, WriteValue } from './sqlite-writes.js';

export type WriteOutcome = { ok: true; value: WriteValue } | { ok: false; error: unknown };

/** A submitted write's callbacks, until its batch's outcome arrives (group-commit.ts, writer-thread.ts). */
export interface PendingWrite {
  /** Runs synchronously as the outcome arrives, before any promise of the batch settles. */
  onCommitted: ((value: WriteValue) => void) | undefined;
  resolve: (value: WriteValue) => void;
  reject: (error: unknown) => void;
}

/**
 * Settle a batch's writes with their outcomes: every committed write's own bookkeeping first,
 * so nothing sees the batch's effects (the new counters) without it, then the promises in order.
 */
export function settleWrites(pending: readonly PendingWrite[], outcomes: readonly WriteOutcome[]): void {
  outcomes.forEach((o, i) => {
    if (o.ok) pending[i]!.onCommitted?.(o.value);
  });
  outcomes.forEach((o, i) => {
    if (o.ok) pending[i]!.resolve(o.value);
    else pending[i]!.reject(o.error);
  });
}

/** A write's own error that left part of it written: the batch must be redone with savepoints. */
class PartialWrite {
  constructor(readonly error: unknown) {}
}

/** Refusals SqliteWrites decides before it writes anything (see SqliteWrites.apply). */
function isRefusal(error: unknown): boolean {
  return error instanceof TaskAlreadyExistsError || error instanceof TaskNotFoundError || error instanceof EtagMismatchError;
}

/**
 * Runs a batch of writes as one IMMEDIATE transaction, each write atomic on its own.
 *
 * A savepoint per write would make each atomic, at about 4 us per write (a quarter of a fire's
 * store work). Instead the batch runs without them: a refusal (a domain error) is thrown before
 * its write touches anything, so it needs no undoing. Any other error may have stopped a write
 * half-way: then the whole batch is rolled back and run again with a savepoint per write, which
 * gives each write the outcome it would have had alone.
 */
export class WriteBatch {
  private readonly fast: Database.Transaction<(ops: WriteOp[]) => WriteOutcome[]>;
  private readonly safe: Database.Transaction<(ops: WriteOp[]) => WriteOutcome[]>;

  constructor(
    db: Database.Database,
    private readonly writes: SqliteWrites,
  ) {
    this.fast = db.transaction((ops: WriteOp[]) =>
      ops.map((op): WriteOutcome => {
        try {
          return { ok: true, value: writes.apply(op) };
        } catch (error) {
          if (isRefusal(error)) return { ok: false, error };
          throw new PartialWrite(error);
        }
      }),
    );
    const inSavepoint = db.transaction((op: WriteOp) => writes.apply(op));
    this.safe = db.transaction((ops: WriteOp[]) =>
      ops.map((op): WriteOutcome => {
        try {
          return { ok: true, value: inSavepoint(op) };
        } catch (error) {
          return { ok: false, error };
        }
      }),
    );
  }

  /** Each write's outcome once the batch committed; throws when the commit itself failed (nothing was written). */
  run(ops: WriteOp[]): WriteOutcome[] {
    const before = this.writes.counters();
    try {
      return this.fast.immediate(ops);
    } catch (error) {
      // Rolled back: what the writes counted in memory did not happen.
      this.writes.restore(before);
      if (!(error instanceof PartialWrite)) throw error;
    }
    try {
      return this.safe.immediate(ops);
    } catch (error) {
      this.writes.restore(before);
      throw error;
    }
  }
}
