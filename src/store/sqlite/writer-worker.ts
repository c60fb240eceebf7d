import { parentPort, workerData } from 'node:worker_threads';
import { openDatabase } from './open-database.js';
import type { FromPublisher, ToPublisher } from './publisher-wire.js';
import type { EventRow } from './rows.js';
import { SqliteWrites, type WriteOp } from './sqlite-writes.js';
import { WriteBatch, type WriteOutcome } from './write-batch.js';
import type { WriterMessage, WriterWorkerData } from './writer-thread.js';
import { decodeWriteOps, encodeFailedBatch, encodeOutcomes, type WireOp } from './writer-wire.js';

/**
 * The writer thread (see writer-thread.ts): its own connection to the store file runs every
 * batch the event loop posts as one IMMEDIATE transaction (write-batch.ts),
 * and answers with each write's outcome and the counts after the batch. SQLite's automatic
 * WAL checkpoints (and their fsyncs) run in these commits, on this thread. With a publisher
 * thread (publisher-worker.ts), it sends that thread the execution events of each batch as it
 * commits them, and takes its acks (each a transaction of its own between batches).
 */
const { path, limits, publisher } = workerData as WriterWorkerData;
const port = parentPort!;
const post = (message: WriterMessage) => port.postMessage(message);
const db = openDatabase(path);
const writes = new SqliteWrites(db, limits);
const batch = new WriteBatch(db, writes);
/** Batches committed so far: in each reply and each 'committed' message, so a close can wait for the last. */
let committedBatches = 0;

port.on('message', (message: { ops: WireOp[] } | 'close') => {
  if (message === 'close') {
    // The publisher thread has closed already (writer-thread.ts closes it first).
    publisher?.close();
    db.close();
    port.close();
    return;
  }
  let ops: WriteOp[];
  let results: WriteOutcome[];
  try {
    ops = decodeWriteOps(message.ops);
    results = batch.run(ops);
  } catch (error) {
    // The commit itself failed (disk full, I/O error): nothing of the batch was written.
    post({ kind: 'batch', outcomes: encodeFailedBatch(message.ops.length, error), counters: writes.counters(), committedBatches });
    return;
  }
  committedBatches++;
  post({ kind: 'batch', outcomes: encodeOutcomes(results), counters: writes.counters(), committedBatches });
  // After the reply: the batch has committed whatever happens here.
  if (publisher !== undefined) toPublisher({ kind: 'committed', rows: committedEvents(ops, results), counters: writes.counters(), batch: committedBatches });
});

function toPublisher(message: ToPublisher): void {
  publisher!.postMessage(message);
}

publisher?.on('message', (message: FromPublisher) => {
  let error: string | undefined;
  try {
    const [outcome] = batch.run([{ op: message.op, sequences: message.sequences }]);
    if (outcome !== undefined && !outcome.ok) error = String(outcome.error);
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  }
  const counters = writes.counters();
  toPublisher({ kind: 'acked', id: message.id, counters, ...(error === undefined ? {} : { error }) });
  post({ kind: 'counters', counters });
});

/** The execution events a batch added, as written (the rows the publisher thread decodes). */
function committedEvents(ops: readonly WriteOp[], outcomes: readonly WriteOutcome[]): EventRow[] {
  const rows: EventRow[] = [];
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    const outcome = outcomes[i]!;
    if (op.op !== 'recordExecution' || !outcome.ok || outcome.value === undefined) continue;
    const sequence = outcome.value;
    // A pair's earlier change took the sequence before (sqlite-writes.ts recordTwoChanges).
    if (op.first !== undefined) rows.push({ sequence: sequence - 1, id: op.first.event.id, time: op.first.event.time, execution: op.first.json });
    rows.push({ sequence, id: op.event.id, time: op.event.time, execution: op.row.json });
  }
  return rows;
}
