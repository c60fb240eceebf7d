import assert from 'node:assert/strict';
import { test } from 'node:test';
import { uuidv7 } from '../../src/engine/ids.js';

test('uuidv7: RFC 9562 layout, the time in the first 48 bits, unique', () => {
  const at = Date.UTC(2026, 0, 1, 12, 0, 0, 123);
  const id = uuidv7(at);
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(parseInt(id.slice(0, 8) + id.slice(9, 13), 16), at);
  assert.ok(uuidv7(at + 1) > id, 'a later millisecond sorts after');
  const many = new Set(Array.from({ length: 10_000 }, () => uuidv7(at)));
  assert.equal(many.size, 10_000);
});
