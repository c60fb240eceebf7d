import type { WriteOp, WriteValue } from './sqlite-writes.js';
import type { WriteOutcome } from './write-batch.js';
import { decodeWriteError, encodeWriteError, type EncodedWriteError } from './write-errors.js';

/**
 * A recordExecution write as a flat tuple: the writer thread decodes three of these per fire,
 * and a flat array of strings and numbers is about five times cheaper to decode than the same
 * write as nested objects (measured with v8.deserialize, which postMessage uses: 1.0 against
 * 5.2 us a write; encoding: 0.5 against 2.3). Every other write is rare or small (addRunCount,
 * once per fire, is a name) and crosses as the object it is.
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
  // With an earlier change of the same write (WriteOp's `first`): its state, JSON and event.
  firstState?: string,
  firstJson?: string,
  firstEventId?: string,
  firstEventTime?: number,
];

export type WireOp = RecordExecutionTuple | Exclude<WriteOp, { op: 'recordExecution' }>;

/** What WriterThread posts for a batch. */
export function encodeWriteOps(ops: readonly WriteOp[]): WireOp[] {
  return ops.map((op) => {
    if (op.op !== 'recordExecution') return op;
    const { row, event, first } = op;
    return first === undefined
      ? [row.id, row.taskName, row.scheduledTime, row.trigger, row.state, row.json, event.id, event.time, op.claim]
      : [row.id, row.taskName, row.scheduledTime, row.trigger, row.state, row.json, event.id, event.time, op.claim, first.state, first.json, first.event.id, first.event.time];
  });
}

/** Inverse of encodeWriteOps, on the writer thread. */
export function decodeWriteOps(wire: readonly WireOp[]): WriteOp[] {
  return wire.map((w): WriteOp => {
    if (!Array.isArray(w)) return w;
    const [id, taskName, scheduledTime, trigger, state, json, eventId, eventTime, claim, firstState, firstJson, firstEventId, firstEventTime] = w;
    const op: WriteOp = { op: 'recordExecution', row: { id, taskName, scheduledTime, trigger, state, json }, event: { id: eventId, time: eventTime }, claim };
    if (firstState !== undefined) op.first = { state: firstState, json: firstJson!, event: { id: firstEventId!, time: firstEventTime! } };
    return op;
  });
}

/**
 * A batch's outcomes as they cross back: each write's value (a sequence, or null for none)
 * and, apart, the few that failed. An object per outcome cost the event loop about half a
 * microsecond per write to decode; numbers cost next to nothing.
 */
export interface WireOutcomes {
  values: Array<number | null>;
  /** [index of the write, its error]; values[index] is null. */
  errors: Array<[number, EncodedWriteError]>;
}

export function encodeOutcomes(outcomes: readonly WriteOutcome[]): WireOutcomes {
  const values: Array<number | null> = [];
  const errors: Array<[number, EncodedWriteError]> = [];
  outcomes.forEach((o, i) => {
    values.push(o.ok ? (o.value ?? null) : null);
    if (!o.ok) errors.push([i, encodeWriteError(o.error)]);
  });
  return { values, errors };
}

/** Every write of a batch failed with the same error (its commit failed). */
export function encodeFailedBatch(size: number, error: unknown): WireOutcomes {
  const encoded = encodeWriteError(error);
  return { values: new Array<null>(size).fill(null), errors: Array.from({ length: size }, (_, i): [number, EncodedWriteError] => [i, encoded]) };
}

export function decodeOutcomes(wire: WireOutcomes): WriteOutcome[] {
  const outcomes = wire.values.map((v): WriteOutcome => ({ ok: true, value: (v ?? undefined) as WriteValue }));
  for (const [i, error] of wire.errors) outcomes[i] = { ok: false, error: decodeWriteError(error) };
  return outcomes;
}
