import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createStyle } from '../../src/cli/colors.js';
import { renderDetails, renderTable, visibleWidth } from '../../src/cli/output-table.js';

/** Start offsets of each column in a rendered line, given the header's column names. */
function columnStarts(header: string, names: string[]): number[] {
  return names.map((n) => header.indexOf(n));
}

describe('renderTable', () => {
  test('every column starts at the same offset on every line, two spaces after the widest cell', () => {
    const out = renderTable(
      ['NAME', 'SCHEDULE', 'STATE'],
      [
        ['a', '*/5 * * * * *', 'ENABLED'],
        ['nightly-report', '0 30 2 * * * (Europe/Berlin)', 'PAUSED'],
      ],
    );
    const lines = out.trimEnd().split('\n');
    assert.equal(lines.length, 3);
    const starts = columnStarts(lines[0]!, ['NAME', 'SCHEDULE', 'STATE']);
    assert.deepEqual(starts, [0, 'nightly-report'.length + 2, 'nightly-report'.length + 2 + '0 30 2 * * * (Europe/Berlin)'.length + 2]);
    for (const line of lines.slice(1)) {
      for (const start of starts.slice(1)) {
        assert.equal(line[start - 1], ' ', `space before column at ${start} in ${JSON.stringify(line)}`);
        assert.notEqual(line[start], ' ', `cell starts at ${start} in ${JSON.stringify(line)}`);
      }
    }
    assert.equal(lines[1], 'a               */5 * * * * *                 ENABLED');
  });

  test('no trailing spaces, one newline at the end', () => {
    const out = renderTable(['A', 'LONGER'], [['x', ''], ['yy', 'z']]);
    assert.ok(out.endsWith('z\n'));
    for (const line of out.split('\n')) assert.equal(line, line.trimEnd());
  });

  test('right-aligned columns pad on the left', () => {
    const out = renderTable(['N', 'COUNT'], [['a', '7'], ['b', '1234']], { align: ['left', 'right'] });
    assert.deepEqual(out.trimEnd().split('\n'), ['N  COUNT', 'a      7', 'b   1234']);
  });

  test('colour codes take no width, so coloured cells align like plain ones', () => {
    const style = createStyle({ isTTY: true }, {});
    assert.ok(style.enabled);
    const coloured = style.green('ENABLED');
    assert.notEqual(coloured, 'ENABLED');
    assert.equal(visibleWidth(coloured), 7);
    const plain = renderTable(['S', 'X'], [['ENABLED', 'x'], ['PAUSED', 'y']]);
    const withColour = renderTable(['S', 'X'], [[coloured, 'x'], [style.yellow('PAUSED'), 'y']]);
    assert.equal(withColour.replace(/\u001b\[[0-9;]*m/g, ''), plain);
  });
});

describe('createStyle', () => {
  test('colour only on a TTY and never with NO_COLOR', () => {
    assert.equal(createStyle({ isTTY: false }, {}).enabled, false);
    assert.equal(createStyle({}, {}).enabled, false);
    assert.equal(createStyle({ isTTY: true }, { NO_COLOR: '1' }).enabled, false);
    assert.equal(createStyle({ isTTY: true }, { NO_COLOR: '1' }).red('x'), 'x');
    assert.equal(createStyle({ isTTY: true }, {}).enabled, true);
  });
});

describe('renderDetails', () => {
  test('values line up after the longest key; an empty key continues the previous entry', () => {
    const out = renderDetails([['name', 'a'], ['next runs', '1'], ['', '2']]);
    assert.deepEqual(out.trimEnd().split('\n'), ['name:       a', 'next runs:  1', '            2']);
  });
});
