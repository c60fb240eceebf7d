import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toJsonString } from '@bufbuild/protobuf';
import { EXECUTION_STATES, type Attempt, type Execution, type ExecutionEvent, type Trigger } from '../../../src/domain/execution.js';
import { ExecutionEventSchema } from '../../../src/gen/cronplane/v1/execution_pb.js';
import { executionEventToProto } from '../../../src/grpc/convert-execution.js';
import { executionEventJson } from '../../../src/events/execution-event-json.js';
import { protoJsonEncoders } from '../../../src/events/event-encoding.js';
import { rng } from '../../helpers/rng.js';

const TRIGGERS: Trigger[] = ['SCHEDULE', 'MANUAL', 'CATCHUP'];
const TEXTS = ['', 'boom', 'quote " backslash \\ newline \n tab \t', 'unicode é ✓ 𝄞', '\u0000\u001f control', 'x'.repeat(300)];

function randomEvent(next: () => number): ExecutionEvent {
  const pick = <T>(values: readonly T[]): T => values[Math.floor(next() * values.length)]!;
  const instant = (): number => {
    switch (Math.floor(next() * 6)) {
      case 0: return 0;
      case 1: return Math.floor(next() * 1000) * 1000; // whole seconds
      case 2: return -Math.floor(next() * 1e12); // before 1970
      case 3: return Date.parse('0001-01-01T00:00:00Z') + Math.floor(next() * 1000);
      case 4: return Date.parse('9999-12-31T23:59:59Z') + Math.floor(next() * 1000);
      default: return 1_700_000_000_000 + Math.floor(next() * 1e10);
    }
  };
  const scheduledTime = instant();
  // lags of every sign and size, whole seconds and sub-second parts
  const startTime = next() < 0.3 ? undefined : pick([scheduledTime, scheduledTime + 1, scheduledTime - 1, scheduledTime + 999, scheduledTime - 1000, scheduledTime - 1500, scheduledTime + 61_005, scheduledTime - 250]);
  const attempts: Attempt[] = Array.from({ length: Math.floor(next() * 4) }, (_, i) => ({
    number: next() < 0.1 ? 0 : i + 1,
    startTime: instant(),
    endTime: next() < 0.5 ? undefined : instant(),
    state: pick(EXECUTION_STATES),
    error: pick(TEXTS),
  }));
  const execution: Execution = {
    id: next() < 0.05 ? '' : `01${Math.floor(next() * 1e9)}`,
    taskName: next() < 0.05 ? '' : pick(['a', 'billing_report', 'cleanup-cache']),
    scheduledTime,
    startTime,
    endTime: next() < 0.5 ? undefined : instant(),
    state: pick(EXECUTION_STATES),
    attempt: next() < 0.2 ? 0 : Math.floor(next() * 10),
    trigger: pick(TRIGGERS),
    error: pick(TEXTS),
    node: pick(['', 'node-1', 'bench']),
    attempts,
    output: pick(TEXTS),
  };
  return { sequence: next() < 0.05 ? 0 : Math.floor(next() * 2 ** 53), id: pick(['', 'ev-1', '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b']), time: instant(), execution };
}

test('executionEventJson writes exactly what protobuf-es writes for the proto event', () => {
  const next = rng(8);
  let refused = 0;
  for (let i = 0; i < 5_000; i++) {
    const event = randomEvent(next);
    let expected: string;
    try {
      expected = toJsonString(ExecutionEventSchema, executionEventToProto(event));
    } catch {
      // some instants near the ends of the Timestamp range fall outside it: refused by both
      assert.throws(() => executionEventJson(event), JSON.stringify(event));
      refused++;
      continue;
    }
    assert.equal(executionEventJson(event), expected, JSON.stringify(event));
  }
  assert.ok(refused < 500, `most events are encodable (${refused} refused)`);
});

test('the NATS body encoder uses it and gives UTF-8 bytes', () => {
  const event = randomEvent(rng(3));
  assert.equal(new TextDecoder().decode(protoJsonEncoders.execution(event)), toJsonString(ExecutionEventSchema, executionEventToProto(event)));
});

test('instants outside the Timestamp range fail like protobuf-es instead of writing a bad date', () => {
  const event = randomEvent(rng(1));
  const beyond = { ...event, time: Date.parse('9999-12-31T23:59:59Z') + 1000 };
  assert.throws(() => toJsonString(ExecutionEventSchema, executionEventToProto(beyond)));
  assert.throws(() => executionEventJson(beyond));
});
