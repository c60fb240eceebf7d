import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { splitLeadingGlobals } from '../../src/cli/args.js';
import { ContextError, describeError, exitCodeOf, UsageError } from '../../src/cli/errors.js';
import { InvalidArgumentError, TaskNotFoundError } from '../../src/domain/errors.js';
import { toGrpcError } from '../../src/grpc/error-mapping.js';

describe('describeError and exitCodeOf', () => {
  test('INVALID_ARGUMENT: each field violation on its own line, exit 2', () => {
    const err = toGrpcError(new InvalidArgumentError([
      { field: 'task.schedule.cron', description: 'day-of-month: value 32 out of range 1-31' },
      { field: 'task.name', description: 'required' },
    ]));
    assert.equal(describeError(err), 'error: invalid argument\n  task.schedule.cron: day-of-month: value 32 out of range 1-31\n  task.name: required\n');
    assert.equal(exitCodeOf(err), 2);
  });

  test('NOT_FOUND says what was not found once, exit 1; context names the task being worked on', () => {
    const err = toGrpcError(new TaskNotFoundError('backup'));
    assert.equal(describeError(err), 'error: task "backup" not found\n');
    assert.equal(exitCodeOf(err), 1);
    const wrapped = new ContextError('task backup', toGrpcError(new InvalidArgumentError([{ field: 'task.action', description: 'required' }])));
    assert.equal(describeError(wrapped), 'error: invalid argument (task backup)\n  task.action: required\n');
    assert.equal(exitCodeOf(wrapped), 2);
  });

  test('usage errors show the synopsis line only; anything else is one line without a stack', () => {
    const usage = 'usage: cronplane tasks get NAME\n\nglobal options:\n  --server HOST:PORT\n';
    assert.equal(describeError(new UsageError('missing NAME', usage)), 'error: missing NAME\nusage: cronplane tasks get NAME\n(--help for details)\n');
    assert.equal(exitCodeOf(new UsageError('x')), 2);
    assert.equal(describeError(new Error('boom')), 'error: boom\n');
    assert.equal(exitCodeOf(new Error('boom')), 1);
  });
});

describe('splitLeadingGlobals', () => {
  test('global options before the command move behind it, with their values', () => {
    assert.deepEqual(splitLeadingGlobals(['--server', 'h:1', '--json', 'tasks', 'list', '--limit', '2']), {
      globals: ['--server', 'h:1', '--json'],
      rest: ['tasks', 'list', '--limit', '2'],
    });
    assert.deepEqual(splitLeadingGlobals(['--token=abc', '-h']), { globals: ['--token=abc', '-h'], rest: [] });
    assert.deepEqual(splitLeadingGlobals(['--cron', 'x', 'tasks']), { globals: [], rest: ['--cron', 'x', 'tasks'] }, 'a command option stops the scan');
  });
});
