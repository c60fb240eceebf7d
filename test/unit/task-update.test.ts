import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidArgumentError, type FieldViolation } from '../../src/domain/errors.js';
import { emptyTaskSpec, type TaskSpec } from '../../src/domain/task.js';
import { applyUpdateMask, scheduleChanged } from '../../src/domain/task-update.js';

function current(): TaskSpec {
  return {
    ...emptyTaskSpec('backup'),
    description: 'nightly backup',
    schedule: { cron: '0 2 * * *', timeZone: 'Europe/Berlin' },
    action: { kind: 'natsPublish', subject: 'backup.run', payload: new Uint8Array(), headers: {}, jetstream: true },
    labels: { team: 'ops' },
    retryPolicy: { maxAttempts: 3, initialBackoffMs: 1000, maxBackoffMs: 8000, multiplier: 2, jitter: 0 },
  };
}

function incoming(): TaskSpec {
  return {
    ...emptyTaskSpec('backup'),
    description: 'new text',
    schedule: { cron: '0 3 * * *', timeZone: 'UTC' },
    action: { kind: 'http', url: 'https://x.test/', method: 'POST', headers: {}, body: new Uint8Array(), successCodes: [] },
    labels: { team: 'billing' },
    attemptDeadlineMs: 5000,
    retryPolicy: { maxAttempts: 5, initialBackoffMs: 2000, maxBackoffMs: 60_000, multiplier: 3, jitter: 0.5 },
    overlapPolicy: 'ALLOW',
    misfirePolicy: 'RUN_ALL',
    catchupWindowMs: 0,
    startTime: 1000,
    endTime: 2000,
    maxRuns: 10,
    pauseAfterFailures: 4,
  };
}

function maskViolations(paths: string[], next: TaskSpec = incoming()): FieldViolation[] {
  try {
    applyUpdateMask(current(), next, paths);
  } catch (error) {
    assert.ok(error instanceof InvalidArgumentError);
    return error.violations;
  }
  assert.fail('mask accepted');
}

describe('applyUpdateMask', () => {
  test('replaces only the listed fields and returns a new spec', () => {
    const before = current();
    const updated = applyUpdateMask(before, incoming(), ['description', 'labels']);
    assert.equal(updated.description, 'new text');
    assert.deepEqual(updated.labels, { team: 'billing' });
    assert.deepEqual(updated.schedule, before.schedule);
    assert.equal(updated.action, before.action);
    assert.equal(before.description, 'nightly backup', 'input untouched');
    assert.notEqual(updated, before);
  });

  test('sub-paths of schedule and retry_policy change one field', () => {
    const a = applyUpdateMask(current(), incoming(), ['schedule.cron']);
    assert.deepEqual(a.schedule, { cron: '0 3 * * *', timeZone: 'Europe/Berlin' });
    const b = applyUpdateMask(current(), incoming(), ['schedule.time_zone', 'retry_policy.jitter', 'retry_policy.max_attempts']);
    assert.deepEqual(b.schedule, { cron: '0 2 * * *', timeZone: 'UTC' });
    assert.deepEqual(b.retryPolicy, { maxAttempts: 5, initialBackoffMs: 1000, maxBackoffMs: 8000, multiplier: 2, jitter: 0.5 });
    const c = applyUpdateMask(current(), incoming(), ['retry_policy.initial_backoff', 'retry_policy.max_backoff', 'retry_policy.multiplier']);
    assert.deepEqual(c.retryPolicy, { maxAttempts: 3, initialBackoffMs: 2000, maxBackoffMs: 60_000, multiplier: 3, jitter: 0 });
  });

  test('every mutable top-level path', () => {
    const next = incoming();
    const all = [
      'description', 'schedule', 'action', 'labels', 'attempt_deadline', 'retry_policy', 'overlap_policy', 'misfire_policy',
      'catchup_window', 'start_time', 'end_time', 'max_runs', 'pause_after_failures',
    ];
    assert.deepEqual(applyUpdateMask(current(), next, all), { ...next, state: 'ENABLED' });
  });

  test('an empty mask (or "*") replaces every mutable field, leaving name and state', () => {
    const next = { ...incoming(), name: 'other', state: 'PAUSED' as const };
    const expected = { ...next, name: 'backup', state: 'ENABLED' };
    assert.deepEqual(applyUpdateMask(current(), next, []), expected);
    assert.deepEqual(applyUpdateMask(current(), next, ['*']), expected);
  });

  test('clearing optional times works through the mask', () => {
    const withTimes = { ...current(), startTime: 5, endTime: 10 };
    const cleared = applyUpdateMask(withTimes, { ...incoming(), startTime: undefined, endTime: undefined }, ['start_time', 'end_time']);
    assert.equal(cleared.startTime, undefined);
    assert.equal(cleared.endTime, undefined);
  });

  test('name is immutable and state goes through Pause/Resume', () => {
    assert.deepEqual(maskViolations(['name'], { ...incoming(), name: 'renamed' }), [
      { field: 'update_mask', description: '"name" is immutable: it is the task\'s id' },
    ]);
    const [state] = maskViolations(['state'], { ...incoming(), state: 'PAUSED' });
    assert.match(state?.description ?? '', /PauseTask or ResumeTask/);
    // unchanged name/state in the mask are harmless no-ops
    assert.doesNotThrow(() => applyUpdateMask(current(), incoming(), ['name', 'state', 'description']));
  });

  test('output-only and unknown paths are refused, all at once', () => {
    const found = maskViolations(['etag', 'create_time', 'next_run_times', 'bogus', 'attemptDeadline', 'description']);
    assert.deepEqual(found.map((v) => v.field), Array(5).fill('update_mask'));
    assert.equal(found[0]?.description, '"etag" is output only');
    assert.equal(found[1]?.description, '"create_time" is output only');
    assert.match(found[3]?.description ?? '', /unknown path "bogus"/);
    assert.match(found[4]?.description ?? '', /did you mean "attempt_deadline"/);
  });

  test('the prefix names the mask field', () => {
    try {
      applyUpdateMask(current(), incoming(), ['run_count'], 'request.update_mask');
      assert.fail('accepted');
    } catch (error) {
      assert.ok(error instanceof InvalidArgumentError);
      assert.equal(error.violations[0]?.field, 'request.update_mask');
    }
  });
});

describe('scheduleChanged', () => {
  test('compares normalised cron and effective time zone', () => {
    const a = { ...current(), schedule: { cron: '0 2 * * *', timeZone: '' } };
    assert.equal(scheduleChanged(a, { ...a, schedule: { cron: ' 0  2 * * * ', timeZone: 'UTC' } }), false);
    assert.equal(scheduleChanged(a, { ...a, schedule: { cron: '0 3 * * *', timeZone: '' } }), true);
    assert.equal(scheduleChanged(a, { ...a, schedule: { cron: '0 2 * * *', timeZone: 'Europe/Berlin' } }), true);
    assert.equal(scheduleChanged(a, { ...a, description: 'x', labels: { a: 'b' } }), false);
  });
});
