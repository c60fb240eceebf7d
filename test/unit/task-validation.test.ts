import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidArgumentError, type FieldViolation } from '../../src/domain/errors.js';
import { emptyTaskSpec, type ActionSpec, type TaskSpec } from '../../src/domain/task.js';
import { normalizeTaskSpec, validateTaskSpec } from '../../src/domain/task-validation.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function natsPublish(subject = 'jobs.cleanup'): ActionSpec {
  return { kind: 'natsPublish', subject, payload: new Uint8Array(), headers: {}, jetstream: false };
}

function http(url = 'https://example.com/hook', method = 'POST'): ActionSpec {
  return { kind: 'http', url, method, headers: {}, body: new Uint8Array(), successCodes: [] };
}

function validSpec(overrides: Partial<TaskSpec> = {}): TaskSpec {
  return { ...emptyTaskSpec('cleanup-cache'), schedule: { cron: '*/5 * * * *', timeZone: '' }, action: natsPublish(), ...overrides };
}

function violationsOf(spec: TaskSpec, prefix?: string): FieldViolation[] {
  try {
    validateTaskSpec(spec, prefix);
  } catch (error) {
    assert.ok(error instanceof InvalidArgumentError);
    return error.violations;
  }
  return [];
}

const fieldsOf = (spec: TaskSpec): string[] => violationsOf(spec).map((v) => v.field);

describe('validateTaskSpec', () => {
  test('a complete spec passes', () => {
    assert.doesNotThrow(() => validateTaskSpec(validSpec()));
    assert.doesNotThrow(() => validateTaskSpec(validSpec({ action: http('http://10.0.0.1:8080/run', 'get') })));
    assert.doesNotThrow(() =>
      validateTaskSpec(validSpec({ schedule: { cron: '0 30 2 * * MON-FRI', timeZone: 'Europe/Berlin' }, labels: { team: 'billing', 'app.kubernetes.io-name': 'x' } })),
    );
  });

  test('collects every violation at once, with proto field paths', () => {
    const spec = validSpec({ name: 'Bad Name', schedule: { cron: '0 0 30 2 *', timeZone: 'Nowhere/Land' }, action: undefined });
    assert.deepEqual(fieldsOf(spec), ['task.name', 'task.schedule.time_zone', 'task.action']);
    const cronOnly = violationsOf(validSpec({ schedule: { cron: '0 0 30 2 *', timeZone: '' } }));
    assert.deepEqual(cronOnly, [{ field: 'task.schedule.cron', description: 'never fires: no date matches (e.g. February 30)' }]);
  });

  test('a year field wholly before now is refused against the given clock', () => {
    const spec = validSpec({ schedule: { cron: '0 0 9 1 1 * 2027', timeZone: '' } });
    assert.doesNotThrow(() => validateTaskSpec(spec, 'task', Date.UTC(2026, 5, 1)));
    assert.throws(() => validateTaskSpec(spec, 'task', Date.UTC(2027, 5, 1)), (e: unknown) =>
      e instanceof InvalidArgumentError && e.violations[0]?.field === 'task.schedule.cron' && /never fires/.test(e.violations[0].description));
  });

  test('the prefix is configurable', () => {
    assert.deepEqual(violationsOf(validSpec({ action: undefined }), 'spec').map((v) => v.field), ['spec.action']);
  });

  test('name: required, and says what is allowed', () => {
    assert.deepEqual(violationsOf(validSpec({ name: '' })), [{ field: 'task.name', description: 'required' }]);
    for (const name of ['-leading', 'UPPER', 'has.dot', 'a'.repeat(64), 'sp ace']) {
      const [v] = violationsOf(validSpec({ name }));
      assert.equal(v?.field, 'task.name', name);
      assert.match(v?.description ?? '', /a-z, 0-9/);
    }
    assert.deepEqual(fieldsOf(validSpec({ name: 'a'.repeat(63) })), []);
  });

  test('description is at most 1024 characters', () => {
    assert.deepEqual(fieldsOf(validSpec({ description: 'x'.repeat(1024) })), []);
    assert.deepEqual(fieldsOf(validSpec({ description: 'x'.repeat(1025) })), ['task.description']);
  });

  test('missing action', () => {
    const [v] = violationsOf(validSpec({ action: undefined }));
    assert.equal(v?.field, 'task.action');
    assert.match(v?.description ?? '', /nats_publish, nats_request or http/);
  });

  test('NATS subjects must be literal and well formed', () => {
    for (const subject of ['', 'jobs.*', 'jobs.>', 'jobs..run', '.jobs', 'jobs.', 'has space', 'tab\there', 'x'.repeat(256)]) {
      assert.deepEqual(fieldsOf(validSpec({ action: natsPublish(subject) })), ['task.action.nats_publish.subject'], JSON.stringify(subject));
    }
    const request: ActionSpec = { kind: 'natsRequest', subject: 'svc.*', payload: new Uint8Array(), headers: {} };
    assert.deepEqual(fieldsOf(validSpec({ action: request })), ['task.action.nats_request.subject']);
    assert.deepEqual(fieldsOf(validSpec({ action: natsPublish('a.b-c.d_e.$JS') })), []);
  });

  test('payload and body are at most 1 MiB', () => {
    const big = new Uint8Array(1024 * 1024 + 1);
    assert.deepEqual(fieldsOf(validSpec({ action: { ...natsPublish(), payload: big } as ActionSpec })), ['task.action.nats_publish.payload']);
    assert.deepEqual(fieldsOf(validSpec({ action: { ...natsPublish(), payload: new Uint8Array(1024 * 1024) } as ActionSpec })), []);
    assert.deepEqual(fieldsOf(validSpec({ action: { ...http(), body: big } as ActionSpec })), ['task.action.http.body']);
  });

  test('headers: count, names, values, and the names cronplane sets itself', () => {
    const withHeaders = (headers: Record<string, string>): ActionSpec => ({ ...natsPublish(), headers }) as ActionSpec;
    const path = 'task.action.nats_publish.headers';
    assert.deepEqual(fieldsOf(validSpec({ action: withHeaders({ 'X-Team': 'billing' }) })), []);
    assert.deepEqual(fieldsOf(validSpec({ action: withHeaders({ 'bad name': 'v' }) })), [path]);
    assert.deepEqual(fieldsOf(validSpec({ action: withHeaders({ 'X-A': 'line\r\nInjected: 1' }) })), [path]);
    assert.deepEqual(fieldsOf(validSpec({ action: withHeaders({ 'Cronplane-Attempt': '9' }) })), [path]);
    assert.deepEqual(fieldsOf(validSpec({ action: withHeaders({ 'idempotency-key': 'k' }) })), [path]);
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`X-H${i}`, 'v']));
    assert.deepEqual(fieldsOf(validSpec({ action: withHeaders(many) })), [path]);
    const httpHeaders = { ...http(), headers: { Host: 'evil' } } as ActionSpec;
    assert.deepEqual(fieldsOf(validSpec({ action: httpHeaders })), ['task.action.http.headers']);
  });

  test('http: url, method, success codes, no body on GET', () => {
    const f = (action: ActionSpec): string[] => fieldsOf(validSpec({ action }));
    assert.deepEqual(f(http('not a url')), ['task.action.http.url']);
    assert.deepEqual(f(http('ftp://example.com/x')), ['task.action.http.url']);
    assert.deepEqual(f(http('https://user:pw@example.com/')), ['task.action.http.url']);
    assert.deepEqual(f(http('')), ['task.action.http.url']);
    assert.deepEqual(f(http(undefined, 'TRACE')), ['task.action.http.method']);
    assert.deepEqual(f(http(undefined, '')), []);
    assert.deepEqual(f(http(undefined, 'delete')), []);
    assert.deepEqual(f({ ...http(), successCodes: [200, 204, 302] } as ActionSpec), []);
    assert.deepEqual(f({ ...http(), successCodes: [200, 600] } as ActionSpec), ['task.action.http.success_codes']);
    assert.deepEqual(f({ ...http(), successCodes: [99] } as ActionSpec), ['task.action.http.success_codes']);
    assert.deepEqual(f({ ...http(undefined, 'GET'), body: new Uint8Array([1]) } as ActionSpec), ['task.action.http.body']);
  });

  test('labels: count, key shape, value length', () => {
    assert.deepEqual(fieldsOf(validSpec({ labels: { Team: 'x' } })), ['task.labels']);
    assert.deepEqual(fieldsOf(validSpec({ labels: { '1team': 'x' } })), ['task.labels']);
    assert.deepEqual(fieldsOf(validSpec({ labels: { team: 'x'.repeat(257) } })), ['task.labels']);
    assert.deepEqual(fieldsOf(validSpec({ labels: { team: 'x'.repeat(256), ['k'.repeat(63)]: '' } })), []);
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']));
    assert.deepEqual(fieldsOf(validSpec({ labels: many })), ['task.labels']);
  });

  test('attempt_deadline: 1 ms to 30 minutes', () => {
    assert.deepEqual(fieldsOf(validSpec({ attemptDeadlineMs: 0 })), ['task.attempt_deadline']);
    assert.deepEqual(fieldsOf(validSpec({ attemptDeadlineMs: 0.5 })), ['task.attempt_deadline']);
    assert.deepEqual(fieldsOf(validSpec({ attemptDeadlineMs: 1 })), []);
    assert.deepEqual(fieldsOf(validSpec({ attemptDeadlineMs: 30 * 60_000 })), []);
    assert.deepEqual(fieldsOf(validSpec({ attemptDeadlineMs: 30 * 60_000 + 1 })), ['task.attempt_deadline']);
  });

  test('retry_policy bounds', () => {
    const retry = (p: Partial<TaskSpec['retryPolicy']>): string[] =>
      fieldsOf(validSpec({ retryPolicy: { ...emptyTaskSpec().retryPolicy, ...p } }));
    assert.deepEqual(retry({ maxAttempts: 0 }), []);
    assert.deepEqual(retry({ maxAttempts: 100 }), []);
    assert.deepEqual(retry({ maxAttempts: 101 }), ['task.retry_policy.max_attempts']);
    assert.deepEqual(retry({ maxAttempts: -1 }), ['task.retry_policy.max_attempts']);
    assert.deepEqual(retry({ initialBackoffMs: -1 }), ['task.retry_policy.initial_backoff']);
    assert.deepEqual(retry({ initialBackoffMs: DAY, maxBackoffMs: DAY + 1 }), ['task.retry_policy.max_backoff']);
    assert.deepEqual(retry({ initialBackoffMs: 5000, maxBackoffMs: 1000 }), ['task.retry_policy.max_backoff']);
    assert.deepEqual(retry({ multiplier: 0.5 }), ['task.retry_policy.multiplier']);
    assert.deepEqual(retry({ multiplier: 101 }), ['task.retry_policy.multiplier']);
    assert.deepEqual(retry({ jitter: 1.5 }), ['task.retry_policy.jitter']);
    assert.deepEqual(retry({ jitter: Number.NaN }), ['task.retry_policy.jitter']);
  });

  test('catch-up window, start/end, max_runs, pause_after_failures, enums', () => {
    assert.deepEqual(fieldsOf(validSpec({ catchupWindowMs: 7 * DAY })), []);
    assert.deepEqual(fieldsOf(validSpec({ catchupWindowMs: 7 * DAY + 1 })), ['task.catchup_window']);
    assert.deepEqual(fieldsOf(validSpec({ catchupWindowMs: -1 })), ['task.catchup_window']);
    assert.deepEqual(fieldsOf(validSpec({ startTime: 2000, endTime: 1000 })), ['task.end_time']);
    assert.deepEqual(fieldsOf(validSpec({ startTime: 1000, endTime: 1000 })), ['task.end_time']);
    assert.deepEqual(fieldsOf(validSpec({ startTime: 1000, endTime: undefined })), []);
    assert.deepEqual(fieldsOf(validSpec({ maxRuns: -1 })), ['task.max_runs']);
    assert.deepEqual(fieldsOf(validSpec({ pauseAfterFailures: 1001 })), ['task.pause_after_failures']);
    assert.deepEqual(fieldsOf(validSpec({ overlapPolicy: 'NOPE' as never })), ['task.overlap_policy']);
    assert.deepEqual(fieldsOf(validSpec({ misfirePolicy: 'NOPE' as never })), ['task.misfire_policy']);
  });
});

describe('normalizeTaskSpec', () => {
  test('trims the cron, makes max_attempts at least 1 and the HTTP method upper case (POST by default)', () => {
    const spec = validSpec({
      schedule: { cron: '  0  9 * * * ', timeZone: 'UTC' },
      action: http(undefined, ''),
      retryPolicy: { ...emptyTaskSpec().retryPolicy, maxAttempts: 0 },
    });
    const normal = normalizeTaskSpec(spec);
    assert.equal(normal.schedule.cron, '0 9 * * *');
    assert.equal(normal.retryPolicy.maxAttempts, 1);
    assert.equal(normal.action?.kind === 'http' ? normal.action.method : '', 'POST');
    assert.equal(spec.retryPolicy.maxAttempts, 0, 'input untouched');
    const put = normalizeTaskSpec(validSpec({ action: http(undefined, 'put') }));
    assert.equal(put.action?.kind === 'http' ? put.action.method : '', 'PUT');
    assert.equal(normalizeTaskSpec(validSpec({ retryPolicy: { ...emptyTaskSpec().retryPolicy, maxAttempts: 3 } })).retryPolicy.maxAttempts, 3);
  });
});
