import type { WriteOp } from './sqlite-writes.js';

/**
 * A recordExecution write as a flat tuple: the writer thread decodes three of these per fire,
 * and a flat array of strings and numbers is about five times cheaper to decode than the same
 * write as nested objects (measured with v8.deserialize, which postMessage uses: 1.0 against
 * 5.2 us a write; encoding: 0.5 against 2.3). Every other write is rare and crosses as the
 * object it is.
 */
type RecordExecutionTuple = [
  id: string,
  taskName: string,
  scheduledTime: number,
  trigger: string,
  state: string,
  json: string,
  eventId: string,
  eventTime: number,
  claim: boolean,
];

export type WireOp = RecordExecutionTuple | Exclude<WriteOp, { op: 'recordExecution' }>;

/** What WriterThread posts for a batch. */
export function encodeWriteOps(ops: readonly WriteOp[]): WireOp[] {
  return ops.map((op) => {
    if (op.op !== 'recordExecution') return op;
    const { row, event } = op;
    return [row.id, row.taskName, row.scheduledTime, row.trigger, row.state, row.json, event.id, event.time, op.claim];
  });
}

/** Inverse of encodeWriteOps, on the writer thread. */
export function decodeWriteOps(wire: readonly WireOp[]): WriteOp[] {
  return wire.map((w): WriteOp => {
    if (!Array.isArray(w)) return w;
    const [id, taskName, scheduledTime, trigger, state, json, eventId, eventTime, claim] = w;
    return { op: 'recordExecution', row: { id, taskName, scheduledTime, trigger, state, json }, event: { id: eventId, time: eventTime }, claim };
  });
}
