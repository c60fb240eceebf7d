import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deserialize, serialize } from 'node:v8';
import type { WriteOp } from '../../src/store/sqlite/sqlite-writes.js';
import { EtagMismatchError } from '../../src/domain/errors.js';
import type { WriteOutcome } from '../../src/store/sqlite/write-batch.js';
import { decodeOutcomes, decodeWriteOps, encodeFailedBatch, encodeOutcomes, encodeWriteOps } from '../../src/store/sqlite/writer-wire.js';
import { executionRow } from '../../src/store/sqlite/statements.js';
import { pendingExecution } from '../helpers/executions.js';

test('every write crosses to the writer thread and back unchanged, in order', () => {
  const execution = pendingExecution({ id: 'e-1', taskName: 'nightly', scheduledTime: 1_700_000_000_000 });
  const ops: WriteOp[] = [
    { op: 'recordExecution', row: executionRow(execution), event: { id: 'ev-1', time: 1_700_000_000_005 }, claim: true },
    { op: 'addRunCount', name: 'nightly' },
    { op: 'recordExecution', row: executionRow({ ...execution, state: 'RUNNING', trigger: 'MANUAL' }), event: { id: 'ev-2', time: 7 }, claim: false },
    {
      op: 'recordExecution',
      row: executionRow({ ...execution, state: 'SUCCEEDED' }),
      event: { id: 'ev-4', time: 9 },
      claim: false,
      first: { state: 'RUNNING', json: executionRow({ ...execution, state: 'RUNNING' }).json, event: { id: 'ev-3', time: 8 } },
    },
    { op: 'ackOutbox', sequences: [3, 4] },
    { op: 'deleteTask', name: 'nightly', expectedEtag: undefined, time: 9 },
  ];
  // Through the same structured clone postMessage uses.
  const crossed = decodeWriteOps(deserialize(serialize(encodeWriteOps(ops))));
  assert.deepEqual(crossed, ops);
});

test('outcomes cross back with their values and errors in place; a failed commit fails every write', () => {
  const diskFull = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
  const outcomes: WriteOutcome[] = [
    { ok: true, value: 41 },
    { ok: true, value: undefined },
    { ok: false, error: new EtagMismatchError('nightly') },
    { ok: true, value: 0 },
    { ok: false, error: diskFull },
  ];
  const crossed = decodeOutcomes(deserialize(serialize(encodeOutcomes(outcomes))));
  assert.deepEqual(crossed.slice(0, 2), outcomes.slice(0, 2));
  assert.deepEqual(crossed[3], { ok: true, value: 0 });
  const etag = crossed[2]!;
  assert.ok(!etag.ok && etag.error instanceof EtagMismatchError && etag.error.taskName === 'nightly');
  const full = crossed[4]!;
  assert.ok(!full.ok && (full.error as { code?: string }).code === 'SQLITE_FULL' && (full.error as Error).message === diskFull.message);

  const failed = decodeOutcomes(deserialize(serialize(encodeFailedBatch(3, diskFull))));
  assert.equal(failed.length, 3);
  for (const o of failed) assert.ok(!o.ok && (o.error as { code?: string }).code === 'SQLITE_FULL');
});
