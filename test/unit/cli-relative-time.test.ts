import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatDuration } from '../../src/cli/duration-text.js';
import { formatRelativeTime, formatSpan } from '../../src/cli/relative-time.js';

const NOW = Date.UTC(2026, 2, 6, 12, 0, 0);
const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

describe('formatRelativeTime', () => {
  test('future instants read "in ...", past ones "... ago", the present "now"', () => {
    assert.equal(formatRelativeTime(NOW + 3 * S, NOW), 'in 3s');
    assert.equal(formatRelativeTime(NOW - 2 * M, NOW), '2m ago');
    assert.equal(formatRelativeTime(NOW, NOW), 'now');
    assert.equal(formatRelativeTime(NOW + 999, NOW), 'now', 'under a second is now');
    assert.equal(formatRelativeTime(NOW - 999, NOW), 'now');
  });

  test('rounds down to whole seconds, never up into a time that has not come', () => {
    assert.equal(formatRelativeTime(NOW + 2_999, NOW), 'in 2s');
    assert.equal(formatRelativeTime(NOW - 59_999, NOW), '59s ago');
  });

  test('a single-digit leading unit keeps the next unit; larger ones stand alone', () => {
    assert.equal(formatRelativeTime(NOW + 90 * S, NOW), 'in 1m30s');
    assert.equal(formatRelativeTime(NOW + 9 * M + 59 * S, NOW), 'in 9m59s');
    assert.equal(formatRelativeTime(NOW + 12 * M + 30 * S, NOW), 'in 12m');
    assert.equal(formatRelativeTime(NOW - (H + 5 * M), NOW), '1h5m ago');
    assert.equal(formatRelativeTime(NOW + 2 * D + 3 * H, NOW), 'in 2d3h');
    assert.equal(formatRelativeTime(NOW + 40 * D, NOW), 'in 40d');
    assert.equal(formatRelativeTime(NOW - 400 * D, NOW), '1y35d ago');
  });

  test('a zero second unit is left out ("2m", not "2m0s")', () => {
    assert.equal(formatSpan(2 * M), '2m');
    assert.equal(formatSpan(H), '1h');
    assert.equal(formatSpan(0), '0s');
  });
});

describe('formatDuration', () => {
  test('milliseconds, tenths of seconds, then whole units', () => {
    assert.equal(formatDuration(12), '12ms');
    assert.equal(formatDuration(1_500), '1.5s');
    assert.equal(formatDuration(2_000), '2s');
    assert.equal(formatDuration(123_000), '2m3s');
    assert.equal(formatDuration(3_600_000), '1h');
  });
});
