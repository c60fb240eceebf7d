import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MsgHdrs, MsgHdrsImpl } from '@nats-io/transport-node';
import { cloudEventHeaders, preparedCloudEventHeaders, type OutgoingEvent } from '../../../src/events/cloudevents.js';

const event: OutgoingEvent = {
  id: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
  time: Date.UTC(2026, 10, 26, 17, 0, 0, 5),
  type: 'io.cronplane.execution.succeeded',
  taskName: 'billing_report',
  subject: 'cronplane.executions.billing_report.succeeded',
  sequence: 42,
};

/** What a publish sends: MsgHdrs as the client encodes it. */
const text = (h: MsgHdrs) => new TextDecoder().decode((h as MsgHdrsImpl).encode());

test('prepared CloudEvents headers are the same bytes as the MsgHdrs built header by header', () => {
  for (const source of ['/cronplane/node-1', '/cronplane/bench']) {
    const prepared = preparedCloudEventHeaders(event, source);
    assert.equal(text(prepared), text(cloudEventHeaders(event, source)));
    for (const time of [0, 1, -1, 999, 1000, -1000, -86_400_001, event.time, event.time + 995, Date.UTC(9999, 11, 31, 23, 59, 59, 999), 8.64e15, -8.64e15, 1.5]) {
      const at = { ...event, time };
      assert.equal(text(preparedCloudEventHeaders(at, source)), text(cloudEventHeaders(at, source)), `time ${time}`);
    }
    assert.equal(prepared.get('ce-id'), event.id, 'readable like any MsgHdrs');
    assert.equal(prepared.get('Nats-Msg-Id'), event.id);
    assert.equal(text(prepared), text(cloudEventHeaders(event, source)), 'the same bytes once read: the headers built on demand encode alike');
    assert.deepEqual([...prepared].map(([k]) => k), [...cloudEventHeaders(event, source)].map(([k]) => k));
  }
});

test('a change to prepared headers is not lost, and odd values take the ordinary path', () => {
  const prepared = preparedCloudEventHeaders(event, '/cronplane/a');
  prepared.set('ce-subject', 'other');
  const expected = cloudEventHeaders(event, '/cronplane/a');
  expected.set('ce-subject', 'other');
  assert.equal(text(prepared), text(expected));

  // MsgHdrsImpl trims values: the prepared path must not keep the blanks
  assert.equal(text(preparedCloudEventHeaders(event, ' /cronplane/padded ')), text(cloudEventHeaders(event, ' /cronplane/padded ')));
  assert.throws(() => preparedCloudEventHeaders(event, '/cronplane/a\r\nX: y'), 'a line break is refused as before');
  for (const odd of [{ ...event, taskName: ' padded ' }, { ...event, id: 'an id ' }, { ...event, type: ' io.cronplane.execution.x' }]) {
    assert.equal(text(preparedCloudEventHeaders(odd, '/cronplane/a')), text(cloudEventHeaders(odd, '/cronplane/a')), JSON.stringify(odd));
  }
  assert.throws(() => preparedCloudEventHeaders({ ...event, taskName: 'a\nb' }, '/cronplane/a'), 'in any value');
});
