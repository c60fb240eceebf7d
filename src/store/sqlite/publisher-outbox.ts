import type Database from 'better-sqlite3';
import type { MessagePort } from 'node:worker_threads';
import type { ExecutionEvent } from '../../domain/execution.js';
import type { TaskEvent } from '../../domain/task-event.js';
import type { OutboxSource } from '../../events/outbox-publisher.js';
import { forgetPublished, outboxHead } from './outbox-head.js';
import type { FromPublisher, ToPublisher } from './publisher-wire.js';
import { eventFromRow, taskEventFromRow, type EventRow } from './rows.js';
import type { WriteCounters } from './sqlite-writes.js';
import { EVENTS_AFTER_SQL, PENDING_TASK_EVENTS_SQL, rowLimit, type TaskEventRow } from './statements.js';

/**
 * Committed events kept for the publisher, undecoded: about 3 s of 10k fires/s, held only
 * while NATS is that far behind; what is not kept is read back from the file.
 */
const KEPT_EVENTS_LIMIT = 100_000;

/**
 * The outboxes as the publisher thread sees them (publisher-worker.ts): the writer thread
 * sends the execution events of each batch it commits, as the rows it wrote, with its counts;
 * events it did not send (from before a restart, beyond the bound) and task events are read on
 * this thread's own connection. Acks go back to the writer, the file's one writer, which
 * answers with the counts after them.
 */
export class PublisherOutbox implements OutboxSource {
  private readonly kept = new Map<number, EventRow>();
  private readonly eventsAfter: Database.Statement<[number, number], EventRow>;
  private readonly pendingTaskEvents: Database.Statement<[number], TaskEventRow>;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  private nextId = 1;
  /** The writer thread is gone: no ack can be taken (a message to a closed port is dropped silently). */
  private writerGone = false;
  /** Batches committed so far, as the writer's last 'committed' message said. */
  private committedBatches = 0;
  /** The close's wait for a batch (there is one close). */
  private batchWaiter: { batch: number; resolve: () => void } | undefined;

  /** `onCommitted`: new events are waiting. */
  constructor(
    db: Database.Database,
    private readonly writer: MessagePort,
    private counts: WriteCounters,
    onCommitted: () => void,
  ) {
    this.eventsAfter = db.prepare(EVENTS_AFTER_SQL);
    this.pendingTaskEvents = db.prepare(PENDING_TASK_EVENTS_SQL);
    writer.on('message', (message: ToPublisher) => {
      this.counts = message.counters;
      if (message.kind === 'committed') {
        for (const row of message.rows) if (this.kept.size < KEPT_EVENTS_LIMIT) this.kept.set(row.sequence, row);
        this.committedBatches = message.batch;
        this.wakeBatchWaiter();
        onCommitted();
        return;
      }
      const waiter = this.waiting.get(message.id);
      this.waiting.delete(message.id);
      if (message.error === undefined) waiter?.resolve();
      else waiter?.reject(new Error(`the writer thread did not take the ack: ${message.error}`));
    });
    // The writer thread is gone: nothing will answer.
    writer.once('close', () => {
      this.writerGone = true;
      for (const waiter of this.waiting.values()) waiter.reject(new Error('the writer thread is gone'));
      this.waiting.clear();
      this.wakeBatchWaiter();
    });
  }

  async pendingOutbox(limit: number, afterSequence?: number): Promise<ExecutionEvent[]> {
    const { published, lastSequence } = this.counts;
    // Events dropped at the outbox limit are never acked: let go of them here.
    forgetPublished(this.kept, published);
    const after = afterSequence === undefined ? published : Math.max(published, afterSequence);
    return outboxHead(this.kept, after, rowLimit(limit), lastSequence, (from, n) => this.eventsAfter.all(from, n)).map(eventFromRow);
  }

  async outboxSize(): Promise<number> {
    return this.counts.outboxCount + this.counts.taskOutboxCount;
  }

  async ackOutbox(sequences: number[]): Promise<void> {
    if (sequences.length === 0) return;
    await this.ack('ackOutbox', sequences);
    forgetPublished(this.kept, this.counts.published);
  }

  async droppedOutboxEvents(): Promise<number> {
    return this.counts.dropped;
  }

  async pendingTaskOutbox(limit: number): Promise<TaskEvent[]> {
    if (this.counts.taskOutboxCount === 0) return []; // the publisher asks every round
    return this.pendingTaskEvents.all(rowLimit(limit)).map(taskEventFromRow);
  }

  async ackTaskOutbox(sequences: number[]): Promise<void> {
    if (sequences.length > 0) await this.ack('ackTaskOutbox', sequences);
  }

  /**
   * Settles once the writer's `batch`-th committed batch has reached this thread (so the
   * counts include what it committed), the writer is gone, or `timeoutMs` has passed.
   */
  committedUpTo(batch: number, timeoutMs: number): Promise<void> {
    if (this.committedBatches >= batch || this.writerGone) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = {
        batch,
        resolve: () => {
          clearTimeout(timer);
          if (this.batchWaiter === waiter) this.batchWaiter = undefined;
          resolve();
        },
      };
      const timer = setTimeout(waiter.resolve, timeoutMs);
      this.batchWaiter = waiter;
    });
  }

  private wakeBatchWaiter(): void {
    const waiter = this.batchWaiter;
    if (waiter !== undefined && (this.committedBatches >= waiter.batch || this.writerGone)) waiter.resolve();
  }

  private ack(op: FromPublisher['op'], sequences: number[]): Promise<void> {
    if (this.writerGone) return Promise.reject(new Error('the writer thread is gone'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      const message: FromPublisher = { kind: 'ack', id, op, sequences };
      this.writer.postMessage(message);
    });
  }
}
