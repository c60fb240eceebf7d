import assert from 'node:assert/strict';
import { test } from 'node:test';
import { headers, type MsgHdrs, type MsgHdrsImpl } from '@nats-io/transport-node';
import { natsHeaders } from '../../src/actions/nats-headers.js';
import { preparedHeaders } from '../../src/events/prepared-headers.js';

/** What a publish sends: MsgHdrs as the client encodes it. */
const wire = (h: MsgHdrs) => new TextDecoder().decode((h as MsgHdrsImpl).encode());

/** The headers as nats.js builds them one `set` at a time: what natsHeaders must equal. */
function ordinary(user: Record<string, string>, run: Record<string, string>): MsgHdrs {
  const h = headers();
  for (const [k, v] of [...Object.entries(user), ...Object.entries(run)]) h.set(k, v);
  return h;
}

const run = {
  'Cronplane-Task': 'billing_report',
  'Cronplane-Execution-Id': '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
  'Cronplane-Scheduled-Time': '2026-11-26T17:00:00.000Z',
  'Cronplane-Attempt': '2',
  'Idempotency-Key': '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
};

test('action headers are the same bytes as nats.js builds them header by header; run headers win over user ones', () => {
  const cases: Array<Record<string, string>> = [
    {},
    { 'X-Team': 'billing', trace: 'abc' },
    { 'Cronplane-Task': 'forged', 'X-Team': 'billing' }, // replaced by the run's, placed after the user's
    { 'idempotency-key': 'other case' }, // exact-case names: a different header
    { 'X-Empty': '' },
  ];
  for (const user of cases) {
    const prepared = natsHeaders(user, run);
    assert.equal(wire(prepared), wire(ordinary(user, run)), JSON.stringify(user));
    assert.equal(prepared.get('Cronplane-Task'), 'billing_report', 'readable like any MsgHdrs');
  }
});

test('names and values nats.js would change or refuse take its own path, with its outcome', () => {
  const padded = { 'X-Padded': '  spaced  ' };
  assert.equal(wire(natsHeaders(padded, run)), wire(ordinary(padded, run)), 'trimmed as before');
  assert.throws(() => natsHeaders({ 'X-Bad': 'a\r\nInjected: yes' }, run), /\\r or \\n/);
  assert.throws(() => natsHeaders({ 'Bad:Name': 'x' }, run), /not a valid character/);
  assert.throws(() => natsHeaders({ 'Bad Name': 'x' }, run), /not a valid character/);
});

test('a change to prepared action headers is not lost', () => {
  const prepared = natsHeaders({ 'X-Team': 'billing' }, run);
  prepared.set('X-Team', 'payments');
  const expected = ordinary({ 'X-Team': 'billing' }, run);
  expected.set('X-Team', 'payments');
  assert.equal(wire(prepared), wire(expected));
});

test('plain headers are prepared; what nats.js would change or refuse, and no header at all, are left to it', () => {
  assert.ok(preparedHeaders({}, run) !== undefined, 'the run headers take the prepared path');
  for (const user of [{ 'X-Padded': ' v ' }, { 'X-Bad': 'a\nb' }, { 'Bad:Name': 'v' }, { '': 'v' }] as Array<Record<string, string>>) {
    assert.equal(preparedHeaders(user, run), undefined, JSON.stringify(user));
  }
  assert.equal(preparedHeaders({}, {}), undefined, 'no header at all');
  // A name found plain once is not scanned again; one that is not stays refused every time.
  assert.ok(preparedHeaders({ 'X-Seen': 'v' }) !== undefined);
  assert.ok(preparedHeaders({ 'X-Seen': 'w' }) !== undefined);
  assert.equal(preparedHeaders({ 'Bad:Name': 'v' }), undefined);
});
