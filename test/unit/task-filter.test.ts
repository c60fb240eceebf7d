import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidArgumentError } from '../../src/domain/errors.js';
import { clampPageSize, decodePageToken, encodePageToken } from '../../src/domain/page-token.js';
import { matchesTaskFilter, parseTaskFilter } from '../../src/domain/task-filter-parse.js';
import type { TaskState } from '../../src/domain/task.js';

function filterError(filter: string): string {
  try {
    parseTaskFilter(filter);
  } catch (error) {
    assert.ok(error instanceof InvalidArgumentError);
    assert.equal(error.violations.length, 1);
    assert.equal(error.violations[0]?.field, 'filter');
    return error.violations[0]?.description ?? '';
  }
  assert.fail(`"${filter}" was accepted`);
}

describe('parseTaskFilter', () => {
  test('empty or blank matches everything', () => {
    assert.deepEqual(parseTaskFilter(''), { labels: {} });
    assert.deepEqual(parseTaskFilter('   '), { labels: {} });
  });

  test('the documented example', () => {
    assert.deepEqual(parseTaskFilter('state=PAUSED AND labels.team=billing AND name=backup*'), {
      state: 'PAUSED',
      labels: { team: 'billing' },
      namePrefix: 'backup',
    });
  });

  test('whitespace, lower-case and, enum prefixes and quotes are tolerated', () => {
    assert.deepEqual(parseTaskFilter('  state = TASK_STATE_ENABLED   and\tlabels.env="prod eu"  '), {
      state: 'ENABLED',
      labels: { env: 'prod eu' },
    });
    assert.deepEqual(parseTaskFilter('state=paused'), { state: 'PAUSED', labels: {} });
    assert.deepEqual(parseTaskFilter('labels.note="say \\"hi\\" AND \\\\ bye"'), { labels: { note: 'say "hi" AND \\ bye' } });
    assert.deepEqual(parseTaskFilter('labels.empty=""'), { labels: { empty: '' } });
    assert.deepEqual(parseTaskFilter('name=*'), { namePrefix: '', labels: {} });
    assert.deepEqual(parseTaskFilter('labels.a=1 AND labels.b=2 AND labels.a=1'), { labels: { a: '1', b: '2' } });
  });

  test('precise errors on the filter field', () => {
    assert.match(filterError('name=backup'), /write name=backup\*/);
    assert.match(filterError('name=Back*'), /name prefix/);
    assert.match(filterError('state=RUNNING'), /ENABLED or PAUSED, got "RUNNING"/);
    assert.match(filterError('owner=me'), /unknown key "owner"/);
    assert.match(filterError('labels.Team=x'), /"Team" is not a valid label key/);
    assert.equal(filterError('state!=PAUSED'), 'at position 6: operator "!=" is not supported, only "="');
    assert.equal(filterError('state'), 'at position 6: expected "=" after "state"');
    assert.match(filterError('state=PAUSED OR name=a*'), /at position 14: only AND is supported/);
    assert.match(filterError('state=PAUSED name=a*'), /expected AND or the end, got "name=a\*"/);
    assert.equal(filterError('state=PAUSED AND'), 'at position 17: expected a term after AND');
    assert.match(filterError('state=PAUSED AND '), /expected a term after AND/);
    assert.match(filterError('labels.x="open'), /unterminated quoted value/);
    assert.match(filterError('state='), /expected a value/);
    assert.match(filterError('state=PAUSED AND state=ENABLED'), /state is given twice/);
    assert.match(filterError('name=a* AND name=b*'), /name is given twice/);
    assert.match(filterError('labels.a=1 AND labels.a=2'), /labels.a is given twice/);
    assert.match(filterError('=x'), /at position 1: expected a key/);
  });

  test('the field name can be changed', () => {
    try {
      parseTaskFilter('bogus=1', 'request.filter');
      assert.fail('accepted');
    } catch (error) {
      assert.ok(error instanceof InvalidArgumentError);
      assert.equal(error.violations[0]?.field, 'request.filter');
    }
  });
});

describe('matchesTaskFilter', () => {
  const task = (name: string, state: TaskState, labels: Record<string, string> = {}) => ({ name, state, labels });

  test('every term must hold', () => {
    const f = parseTaskFilter('state=PAUSED AND labels.team=billing AND name=backup*');
    assert.equal(matchesTaskFilter(task('backup-db', 'PAUSED', { team: 'billing', x: 'y' }), f), true);
    assert.equal(matchesTaskFilter(task('backup-db', 'ENABLED', { team: 'billing' }), f), false);
    assert.equal(matchesTaskFilter(task('restore-db', 'PAUSED', { team: 'billing' }), f), false);
    assert.equal(matchesTaskFilter(task('backup-db', 'PAUSED', { team: 'ops' }), f), false);
    assert.equal(matchesTaskFilter(task('backup-db', 'PAUSED'), f), false);
  });

  test('the empty filter matches everything; an empty label value needs the label present', () => {
    assert.equal(matchesTaskFilter(task('a', 'ENABLED'), parseTaskFilter('')), true);
    const empty = parseTaskFilter('labels.x=""');
    assert.equal(matchesTaskFilter(task('a', 'ENABLED', { x: '' }), empty), true);
    assert.equal(matchesTaskFilter(task('a', 'ENABLED'), empty), false);
    assert.equal(matchesTaskFilter(task('a', 'ENABLED'), parseTaskFilter('labels.constructor=x')), false);
  });
});

describe('page tokens', () => {
  test('round trip, opaque base64url', () => {
    const token = encodePageToken({ after: 'backup-db', seq: 42 });
    assert.match(token, /^[A-Za-z0-9_-]+$/);
    assert.deepEqual(decodePageToken(token), { after: 'backup-db', seq: 42 });
    assert.deepEqual(decodePageToken(''), {});
  });

  test('garbage is an InvalidArgumentError on page_token', () => {
    const notObject = Buffer.from('[1,2]').toString('base64url');
    const notJson = Buffer.from('{oops').toString('base64url');
    for (const token of ['!!!', 'abc def', notObject, notJson, 'x'.repeat(5000), Buffer.from('null').toString('base64url')]) {
      assert.throws(
        () => decodePageToken(token),
        (error: unknown) => error instanceof InvalidArgumentError && error.violations[0]?.field === 'page_token',
        token.slice(0, 20),
      );
    }
    assert.throws(() => decodePageToken('!!!', 'next'), (e: unknown) => e instanceof InvalidArgumentError && e.violations[0]?.field === 'next');
  });

  test('clampPageSize: 0 is the default, above the max is the max, negative is an error', () => {
    assert.equal(clampPageSize(0), 50);
    assert.equal(clampPageSize(7), 7);
    assert.equal(clampPageSize(1000), 1000);
    assert.equal(clampPageSize(5000), 1000);
    assert.equal(clampPageSize(0, 'page_size', 10, 100), 10);
    assert.equal(clampPageSize(500, 'page_size', 10, 100), 100);
    assert.throws(() => clampPageSize(-1), (e: unknown) => e instanceof InvalidArgumentError && e.violations[0]?.field === 'page_size');
  });
});
