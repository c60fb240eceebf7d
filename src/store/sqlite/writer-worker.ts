import { parentPort, workerData } from 'node:worker_threads';
import { openDatabase } from './open-database.js';
import { SqliteWrites } from './sqlite-writes.js';
import { WriteBatch } from './write-batch.js';
import type { WriterBatchReply, WriterWorkerData } from './writer-thread.js';
import { decodeWriteOps, encodeFailedBatch, encodeOutcomes, type WireOp } from './writer-wire.js';

/**
 * The writer thread (see writer-thread.ts): its own connection to the store file runs every
 * batch the event loop posts as one IMMEDIATE transaction (write-batch.ts),
 * and answers with each write's outcome and the counts after the batch. SQLite's automatic
 * WAL checkpoints (and their fsyncs) run in these commits, on this thread.
 */
const { path, limits } = workerData as WriterWorkerData;
const port = parentPort!;
const db = openDatabase(path);
const writes = new SqliteWrites(db, limits);
const batch = new WriteBatch(db, writes);

port.on('message', (message: { ops: WireOp[] } | 'close') => {
  if (message === 'close') {
    db.close();
    port.close();
    return;
  }
  let outcomes: WriterBatchReply['outcomes'];
  try {
    outcomes = encodeOutcomes(batch.run(decodeWriteOps(message.ops)));
  } catch (error) {
    // The commit itself failed (disk full, I/O error): nothing of the batch was written.
    outcomes = encodeFailedBatch(message.ops.length, error);
  }
  const reply: WriterBatchReply = { outcomes, counters: writes.counters() };
  port.postMessage(reply);
});
