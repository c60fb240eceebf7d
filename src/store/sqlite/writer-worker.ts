import { parentPort, workerData } from 'node:worker_threads';
import { openDatabase } from './open-database.js';
import { SqliteWrites, type WriteOp } from './sqlite-writes.js';
import { encodeWriteError } from './write-errors.js';
import type { WriterBatchReply, WriterWorkerData } from './writer-thread.js';

/**
 * The writer thread (see writer-thread.ts): its own connection to the store file runs every
 * batch the event loop posts as one IMMEDIATE transaction, each write in its own savepoint,
 * and answers with each write's outcome and the counts after the batch. SQLite's automatic
 * WAL checkpoints (and their fsyncs) run in these commits, on this thread.
 */
const { path, limits } = workerData as WriterWorkerData;
const port = parentPort!;
const db = openDatabase(path);
const writes = new SqliteWrites(db, limits);
const inSavepoint = db.transaction((op: WriteOp) => writes.apply(op));
const batch = db.transaction((ops: WriteOp[]): WriterBatchReply['outcomes'] =>
  ops.map((op) => {
    try {
      return { ok: true, value: inSavepoint(op) };
    } catch (error) {
      return { ok: false, error: encodeWriteError(error) };
    }
  }),
);

port.on('message', (message: { ops: WriteOp[] } | 'close') => {
  if (message === 'close') {
    db.close();
    port.close();
    return;
  }
  let outcomes: WriterBatchReply['outcomes'];
  try {
    outcomes = batch.immediate(message.ops);
  } catch (error) {
    // The commit itself failed (disk full, I/O error): nothing of the batch was written.
    writes.reload();
    const encoded = encodeWriteError(error);
    outcomes = message.ops.map(() => ({ ok: false, error: encoded }));
  }
  const reply: WriterBatchReply = { outcomes, counters: writes.counters() };
  port.postMessage(reply);
});
