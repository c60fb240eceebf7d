import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deserialize, serialize } from 'node:v8';
import type { WriteOp } from '../../src/store/sqlite/sqlite-writes.js';
import { decodeWriteOps, encodeWriteOps } from '../../src/store/sqlite/writer-wire.js';
import { executionRow } from '../../src/store/sqlite/statements.js';
import { pendingExecution } from '../helpers/executions.js';

test('every write crosses to the writer thread and back unchanged, in order', () => {
  const execution = pendingExecution({ id: 'e-1', taskName: 'nightly', scheduledTime: 1_700_000_000_000 });
  const ops: WriteOp[] = [
    { op: 'recordExecution', row: executionRow(execution), event: { id: 'ev-1', time: 1_700_000_000_005 }, claim: true },
    { op: 'addRunCount', name: 'nightly' },
    { op: 'recordExecution', row: executionRow({ ...execution, state: 'RUNNING', trigger: 'MANUAL' }), event: { id: 'ev-2', time: 7 }, claim: false },
    { op: 'ackOutbox', sequences: [3, 4] },
    { op: 'deleteTask', name: 'nightly', expectedEtag: undefined, time: 9 },
  ];
  // Through the same structured clone postMessage uses.
  const crossed = decodeWriteOps(deserialize(serialize(encodeWriteOps(ops))));
  assert.deepEqual(crossed, ops);
});
