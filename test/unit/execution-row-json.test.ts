import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Execution } from '../../src/domain/execution.js';
import { ATTEMPT_JSON_FIELDS, EXECUTION_JSON_FIELDS, executionFromJson, executionToJson } from '../../src/store/sqlite/rows.js';
import { pendingExecution } from '../helpers/executions.js';

/** The stored form as the store first wrote it (JSON.stringify of every field, unset times as null). */
function reference(e: Execution): string {
  const orNull = (t: number | undefined) => (t === undefined ? null : t);
  return JSON.stringify({
    id: e.id,
    taskName: e.taskName,
    scheduledTime: e.scheduledTime,
    startTime: orNull(e.startTime),
    endTime: orNull(e.endTime),
    state: e.state,
    attempt: e.attempt,
    trigger: e.trigger,
    error: e.error,
    node: e.node,
    attempts: e.attempts.map((a) => ({ number: a.number, startTime: a.startTime, endTime: orNull(a.endTime), state: a.state, error: a.error })),
    output: e.output,
  });
}

const T = 1_700_000_000_123;
const cases: Execution[] = [
  pendingExecution({ id: 'e-1', taskName: 'nightly', scheduledTime: T }),
  {
    ...pendingExecution({ id: '0195f7a0-1234-7abc-8def-0123456789ab', taskName: 'billing.run-1', scheduledTime: T }),
    state: 'FAILED',
    startTime: T + 3,
    endTime: T + 4_000,
    attempt: 2,
    trigger: 'CATCHUP',
    error: 'HTTP 503: "busy"\nline two \\ tab\t \u0000 \u2028 ünïcødé 🚀',
    node: 'node-a',
    output: '{"body":"<html>"}',
    attempts: [
      { number: 1, startTime: T + 3, endTime: T + 30, state: 'FAILED', error: 'first' },
      { number: 2, startTime: T + 1_000, endTime: undefined, state: 'RUNNING', error: '' },
    ],
  },
  { ...pendingExecution({ id: 'm', taskName: 't', scheduledTime: 0 }), trigger: 'MANUAL', state: 'RUNNING', startTime: -5, attempt: 1, attempts: [] },
];

test('executionToJson writes the same text as JSON.stringify of the stored form, and reads back equal', () => {
  for (const e of cases) {
    assert.equal(executionToJson(e), reference(e));
    assert.deepEqual(executionFromJson(executionToJson(e)), e);
    // Every field of the types, so a field added to Execution or Attempt cannot go unwritten.
    const parsed = JSON.parse(executionToJson(e)) as { attempts: object[] };
    assert.deepEqual(Object.keys(parsed), EXECUTION_JSON_FIELDS);
    for (const a of parsed.attempts) assert.deepEqual(Object.keys(a), ATTEMPT_JSON_FIELDS);
  }
});
