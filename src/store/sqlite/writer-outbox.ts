import type Database from 'better-sqlite3';
import type { ExecutionEvent } from '../../domain/execution.js';
import type { TaskEvent } from '../../domain/task-event.js';
import type { OutboxSource } from '../../events/outbox-publisher.js';
import { forgetPublished, outboxHead } from './outbox-head.js';
import { eventFromRow, taskEventFromRow, type EventRow } from './rows.js';
import type { SqliteWrites, WriteOp } from './sqlite-writes.js';
import { EVENTS_AFTER_SQL, PENDING_TASK_EVENTS_SQL, type TaskEventRow } from './statements.js';
import type { WriteBatch, WriteOutcome } from './write-batch.js';

/**
 * Committed events kept for the publisher, undecoded: about 3 s of 10k fires/s, held only
 * while NATS is that far behind; what is not kept is read back from the file.
 */
const KEPT_EVENTS_LIMIT = 100_000;

/**
 * The outboxes as the writer thread's publisher sees them (writer-publishing.ts): the events
 * this thread has just committed, kept as the rows it wrote, so nothing crosses back to the
 * event loop to be published; older ones from the file, on this thread's own connection. An
 * ack is a write of its own on this connection, and `onAcked` tells the event loop the new
 * counts.
 */
export class WriterOutbox implements OutboxSource {
  private readonly kept = new Map<number, EventRow>();
  private readonly eventsAfter: Database.Statement<[number, number], EventRow>;
  private readonly pendingTaskEvents: Database.Statement<[number], TaskEventRow>;

  constructor(
    db: Database.Database,
    private readonly writes: SqliteWrites,
    private readonly batch: WriteBatch,
    private readonly onAcked: () => void,
  ) {
    this.eventsAfter = db.prepare(EVENTS_AFTER_SQL);
    this.pendingTaskEvents = db.prepare(PENDING_TASK_EVENTS_SQL);
  }

  /** After a batch committed: keep the execution events it added. */
  committed(ops: readonly WriteOp[], outcomes: readonly WriteOutcome[]): void {
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      const outcome = outcomes[i]!;
      if (op.op !== 'recordExecution' || !outcome.ok || outcome.value === undefined) continue;
      const sequence = outcome.value;
      // A pair's earlier change took the sequence before (sqlite-writes.ts recordTwoChanges).
      if (op.first !== undefined) this.keep({ sequence: sequence - 1, id: op.first.event.id, time: op.first.event.time, execution: op.first.json });
      this.keep({ sequence, id: op.event.id, time: op.event.time, execution: op.row.json });
    }
  }

  async pendingOutbox(limit: number, afterSequence?: number): Promise<ExecutionEvent[]> {
    const { published, lastSequence } = this.writes.counters();
    // Events dropped at the outbox limit are never acked: let go of them here.
    forgetPublished(this.kept, published);
    const after = afterSequence === undefined ? published : Math.max(published, afterSequence);
    const wanted = Number.isFinite(limit) ? Math.max(0, Math.floor(limit)) : 0;
    return outboxHead(this.kept, after, wanted, lastSequence, (from, n) => this.eventsAfter.all(from, n)).map(eventFromRow);
  }

  async outboxSize(): Promise<number> {
    const { outboxCount, taskOutboxCount } = this.writes.counters();
    return outboxCount + taskOutboxCount;
  }

  async ackOutbox(sequences: number[]): Promise<void> {
    if (sequences.length === 0) return;
    this.write({ op: 'ackOutbox', sequences });
    forgetPublished(this.kept, this.writes.counters().published);
  }

  async droppedOutboxEvents(): Promise<number> {
    return this.writes.counters().dropped;
  }

  async pendingTaskOutbox(limit: number): Promise<TaskEvent[]> {
    if (this.writes.counters().taskOutboxCount === 0) return []; // the publisher asks every round
    return this.pendingTaskEvents.all(Math.max(0, Math.floor(limit))).map(taskEventFromRow);
  }

  async ackTaskOutbox(sequences: number[]): Promise<void> {
    if (sequences.length > 0) this.write({ op: 'ackTaskOutbox', sequences });
  }

  private keep(row: EventRow): void {
    if (this.kept.size < KEPT_EVENTS_LIMIT) this.kept.set(row.sequence, row);
  }

  /** A transaction of its own between the event loop's batches (this thread runs one thing at a time). */
  private write(op: WriteOp): void {
    const [outcome] = this.batch.run([op]);
    if (outcome !== undefined && !outcome.ok) throw outcome.error;
    this.onAcked();
  }
}
