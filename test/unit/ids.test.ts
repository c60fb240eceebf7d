import assert from 'node:assert/strict';
import { test } from 'node:test';
import { uuidv7 } from '../../src/engine/ids.js';

const LAYOUT = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const timeOf = (id: string) => parseInt(id.slice(0, 8) + id.slice(9, 13), 16);

test('uuidv7: RFC 9562 layout, the time in the first 48 bits, unique', () => {
  const at = Date.UTC(2026, 0, 1, 12, 0, 0, 123);
  const id = uuidv7(at);
  assert.match(id, LAYOUT);
  assert.equal(timeOf(id), at);
  assert.ok(uuidv7(at + 1) > id, 'a later millisecond sorts after');
  const many = new Set(Array.from({ length: 10_000 }, () => uuidv7(at + 2)));
  assert.equal(many.size, 10_000);
});

test('uuidv7: ids of one millisecond sort in the order they were made, past the counter into the next millisecond', () => {
  const at = Date.UTC(2027, 5, 1, 0, 0, 0, 0);
  const ids = Array.from({ length: 5_000 }, () => uuidv7(at));
  for (const id of ids) assert.match(id, LAYOUT);
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! > ids[i - 1]!, `id ${i} sorts after id ${i - 1}`);
  assert.equal(timeOf(ids[0]!), at);
  assert.ok(parseInt(ids[0]!.slice(15, 18), 16) <= 0x7ff, 'the counter starts in the lower half');
  // 12 bits of counter, started below 2048: 5,000 ids spill into the following milliseconds.
  assert.ok(timeOf(ids.at(-1)!) > at && timeOf(ids.at(-1)!) <= at + 2, 'the overflow borrows the next millisecond');
  const next = uuidv7(at);
  assert.ok(next > ids.at(-1)!, 'a clock behind the borrowed millisecond continues the series');
  const tails = new Set(ids.map((id) => id.slice(-8)));
  assert.ok(tails.size > 4_990, `each id draws bits of its own (${tails.size} distinct of 5,000)`);
});

test('uuidv7: a clock a little behind continues the series; far behind, it starts a new one at its own time', () => {
  const at = Date.UTC(2028, 0, 1);
  const first = uuidv7(at);
  const behind = uuidv7(at - 5_000);
  assert.ok(behind > first, 'a step back of seconds keeps the order');
  assert.equal(timeOf(behind), at);
  const farBehind = uuidv7(at - 60_000);
  assert.equal(timeOf(farBehind), at - 60_000);
});

test('uuidv7: each millisecond series draws its random bits afresh (what keeps processes apart)', () => {
  const at = Date.UTC(2029, 0, 1);
  const seriesBits = new Set(Array.from({ length: 50 }, (_, i) => uuidv7(at + i).slice(19, 28)));
  assert.equal(seriesBits.size, 50);
});
