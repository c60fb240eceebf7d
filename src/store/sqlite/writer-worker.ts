import { parentPort, workerData } from 'node:worker_threads';
import { openDatabase } from './open-database.js';
import { SqliteWrites } from './sqlite-writes.js';
import { WriteBatch } from './write-batch.js';
import { WriterOutbox } from './writer-outbox.js';
import { startWriterPublishing, type WriterPublishing } from './writer-publishing.js';
import type { WriterMessage, WriterWorkerData } from './writer-thread.js';
import { decodeWriteOps, encodeFailedBatch, encodeOutcomes, type WireOp } from './writer-wire.js';

/**
 * The writer thread (see writer-thread.ts): its own connection to the store file runs every
 * batch the event loop posts as one IMMEDIATE transaction (write-batch.ts),
 * and answers with each write's outcome and the counts after the batch. SQLite's automatic
 * WAL checkpoints (and their fsyncs) run in these commits, on this thread. With `publish`,
 * it also publishes the outboxes to NATS (writer-publishing.ts), and posts the counts after
 * each ack.
 */
const { path, limits, publish } = workerData as WriterWorkerData;
const port = parentPort!;
const post = (message: WriterMessage) => port.postMessage(message);
const db = openDatabase(path);
const writes = new SqliteWrites(db, limits);
const batch = new WriteBatch(db, writes);
const outbox = new WriterOutbox(db, writes, batch, () => post({ kind: 'counters', counters: writes.counters() }));
const publishing: WriterPublishing | undefined =
  publish === undefined ? undefined : startWriterPublishing(publish, outbox, limits.outboxLimit, (line) => post({ kind: 'log', line }));

port.on('message', (message: { ops: WireOp[] } | 'close') => {
  if (message === 'close') {
    void close();
    return;
  }
  let outcomes: ReturnType<typeof encodeOutcomes>;
  try {
    const ops = decodeWriteOps(message.ops);
    const results = batch.run(ops);
    if (publishing !== undefined) {
      outbox.committed(ops, results);
      publishing.kick();
    }
    outcomes = encodeOutcomes(results);
  } catch (error) {
    // The commit itself failed (disk full, I/O error): nothing of the batch was written.
    outcomes = encodeFailedBatch(message.ops.length, error);
  }
  post({ kind: 'batch', outcomes, counters: writes.counters() });
});

/** Every batch posted before 'close' has been answered; the outbox gets its drain time. */
async function close(): Promise<void> {
  await publishing?.stop();
  db.close();
  port.close();
}
