import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Cron } from 'croner';
import { InvalidScheduleError } from '../../src/domain/errors.js';
import { compileSchedule, normalizeCron, type Schedule } from '../../src/domain/schedule.js';

const at = (iso: string): number => Date.parse(iso);
const iso = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');
const compile = (cron: string, timeZone = ''): Schedule => compileSchedule({ cron, timeZone }, 'schedule', at('2026-01-01T00:00:00Z'));
const nextIso = (cron: string, from: string, count: number, timeZone = ''): string[] =>
  compile(cron, timeZone).nextTimes(at(from), count).map(iso);

/** Local wall-clock time "HH:MM" of an instant in a zone. */
function localHm(ms: number, timeZone: string): string {
  return new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(ms);
}

/** Every occurrence in [fromMs, toMs). */
function between(schedule: Schedule, fromMs: number, toMs: number): number[] {
  const out: number[] = [];
  for (let t = schedule.next(fromMs - 1); t !== undefined && t < toMs; t = schedule.next(t)) out.push(t);
  return out;
}

function assertStrictlyIncreasing(times: number[]): void {
  for (let i = 1; i < times.length; i++) assert.ok((times[i] as number) > (times[i - 1] as number), `not increasing at ${i}`);
}

/** The violations compileSchedule throws for an expression (and zone). */
function violations(cron: string, timeZone = '', field = 'schedule'): { field: string; description: string }[] {
  try {
    compileSchedule({ cron, timeZone }, field, at('2026-01-01T00:00:00Z'));
  } catch (error) {
    assert.ok(error instanceof InvalidScheduleError, `expected InvalidScheduleError, got ${String(error)}`);
    return error.violations;
  }
  assert.fail(`"${cron}" was accepted`);
}

describe('Schedule.next', () => {
  test('is strictly after the given instant, in whole seconds', () => {
    const daily = compile('0 0 * * *');
    assert.equal(iso(daily.next(at('2026-01-02T00:00:00Z')) as number), '2026-01-03T00:00:00Z');
    assert.equal(iso(daily.next(at('2026-01-01T23:59:59.999Z')) as number), '2026-01-02T00:00:00Z');
    const everySecond = compile('* * * * * *');
    assert.equal(iso(everySecond.next(at('2026-01-01T00:00:00.500Z')) as number), '2026-01-01T00:00:01Z');
  });

  test('nextTimes chains next and stops when the schedule ends', () => {
    assert.deepEqual(nextIso('0 0 12 1 1 * 2027-2028', '2026-06-01T00:00:00Z', 5), ['2027-01-01T12:00:00Z', '2028-01-01T12:00:00Z']);
    assert.equal(compile('0 0 12 1 1 * 2027').next(at('2027-01-01T12:00:00Z')), undefined);
  });
});

describe('DST in America/New_York', () => {
  const ny = 'America/New_York';

  test('spring forward 2026-03-08: 02:30 does not exist, the fixed-time task runs once at 03:00 EDT', () => {
    assert.deepEqual(nextIso('30 2 * * *', '2026-03-07T00:00:00Z', 3, ny), [
      '2026-03-07T07:30:00Z', // 02:30 EST
      '2026-03-08T07:00:00Z', // the jump: 03:00 EDT
      '2026-03-09T06:30:00Z', // 02:30 EDT
    ]);
  });

  test('fall back 2026-11-01: 01:30 happens twice, the fixed-time task runs once, at the first', () => {
    assert.deepEqual(nextIso('30 1 * * *', '2026-10-31T00:00:00Z', 3, ny), [
      '2026-10-31T05:30:00Z', // 01:30 EDT
      '2026-11-01T05:30:00Z', // first 01:30 (EDT); not again at 06:30Z (01:30 EST)
      '2026-11-02T06:30:00Z', // 01:30 EST
    ]);
    assert.equal(iso(compile('30 1 * * *', ny).next(at('2026-11-01T05:30:00Z')) as number), '2026-11-02T06:30:00Z');
  });

  test('an hourly task fires 23 times on the short day and 25 on the long one, one hour apart', () => {
    const hourly = compile('0 * * * *', ny);
    // local midnight to local midnight: 05:00Z..04:00Z (23 h), then 04:00Z..05:00Z (25 h)
    const spring = between(hourly, at('2026-03-08T05:00:00Z'), at('2026-03-09T04:00:00Z'));
    const fall = between(hourly, at('2026-11-01T04:00:00Z'), at('2026-11-02T05:00:00Z'));
    assert.equal(spring.length, 23);
    assert.equal(fall.length, 25);
    for (const day of [spring, fall]) {
      assertStrictlyIncreasing(day);
      for (let i = 1; i < day.length; i++) assert.equal((day[i] as number) - (day[i - 1] as number), 3_600_000);
    }
    assert.deepEqual(spring.slice(0, 3).map((t) => localHm(t, ny)), ['00:00', '01:00', '03:00']);
    assert.deepEqual(fall.slice(0, 4).map((t) => localHm(t, ny)), ['00:00', '01:00', '01:00', '02:00']);
  });

  test('a list of fixed times is treated as fixed times (Vixie), not skipped or doubled', () => {
    assert.deepEqual(nextIso('30 2,14 * * *', '2026-03-08T00:00:00Z', 2, ny), ['2026-03-08T07:00:00Z', '2026-03-08T18:30:00Z']);
    assert.deepEqual(nextIso('30 1,14 * * *', '2026-11-01T00:00:00Z', 2, ny), ['2026-11-01T05:30:00Z', '2026-11-01T19:30:00Z']);
  });

  test('an interval inside the gap is skipped on the spring-forward day', () => {
    assert.deepEqual(nextIso('0-10/5 2 * * *', '2026-03-08T00:00:00Z', 2, ny), ['2026-03-09T06:00:00Z', '2026-03-09T06:05:00Z']);
  });
});

describe('DST in Australia/Lord_Howe (30-minute shift)', () => {
  const lh = 'Australia/Lord_Howe';

  test('2026-10-04 02:00 -> 02:30: local 02:00 is skipped, no instant repeats', () => {
    const times = compile('0,30 * * * *', lh).nextTimes(at('2026-10-03T14:00:00Z'), 4);
    assert.deepEqual(times.map(iso), ['2026-10-03T14:30:00Z', '2026-10-03T15:00:00Z', '2026-10-03T15:30:00Z', '2026-10-03T16:00:00Z']);
    assert.deepEqual(times.map((t) => localHm(t, lh)), ['01:00', '01:30', '02:30', '03:00']);
  });

  test('2026-04-05 02:00 -> 01:30: the repeated half hour runs on both passes, instants stay distinct', () => {
    const times = compile('0,30 * * * *', lh).nextTimes(at('2026-04-04T13:30:00Z'), 5);
    assert.deepEqual(times.map(iso), [
      '2026-04-04T14:00:00Z', '2026-04-04T14:30:00Z', '2026-04-04T15:00:00Z', '2026-04-04T15:30:00Z', '2026-04-04T16:00:00Z',
    ]);
    assert.deepEqual(times.map((t) => localHm(t, lh)), ['01:00', '01:30', '01:30', '02:00', '02:30']);
    assertStrictlyIncreasing(times);
    // a fixed 01:30 runs once, on the first pass (+11:00)
    assert.deepEqual(nextIso('30 1 * * *', '2026-04-04T00:00:00Z', 2, lh), ['2026-04-04T14:30:00Z', '2026-04-05T15:00:00Z']);
  });
});

describe('cron syntax', () => {
  test('L: last day of the month, 29th in a leap February', () => {
    assert.deepEqual(nextIso('0 0 L 2 *', '2027-03-01T00:00:00Z', 1), ['2028-02-29T00:00:00Z']);
    assert.deepEqual(nextIso('0 0 L 2 *', '2026-03-01T00:00:00Z', 1), ['2027-02-28T00:00:00Z']);
    assert.deepEqual(nextIso('0 0 * * FRI#L', '2026-01-01T00:00:00Z', 1), ['2026-01-30T00:00:00Z']);
    assert.deepEqual(nextIso('0 0 * * 5L', '2026-01-01T00:00:00Z', 1), ['2026-01-30T00:00:00Z']);
  });

  test('W: nearest weekday (Sat 15 Aug -> Fri 14, Sun 15 Nov -> Mon 16)', () => {
    assert.deepEqual(nextIso('0 0 15W * *', '2026-08-01T00:00:00Z', 1), ['2026-08-14T00:00:00Z']);
    assert.deepEqual(nextIso('0 0 15W * *', '2026-11-01T00:00:00Z', 1), ['2026-11-16T00:00:00Z']);
  });

  test('#: the second Monday', () => {
    assert.deepEqual(nextIso('0 0 * * MON#2', '2026-01-01T00:00:00Z', 2), ['2026-01-12T00:00:00Z', '2026-02-09T00:00:00Z']);
  });

  test('Feb 29 waits for the next leap year', () => {
    assert.deepEqual(nextIso('0 0 29 2 *', '2026-01-01T00:00:00Z', 2), ['2028-02-29T00:00:00Z', '2032-02-29T00:00:00Z']);
  });

  test('Vixie OR: restricted day-of-month and day-of-week fire on either', () => {
    // Mondays of January, then Sunday 1 February (the 1st), then Monday 2 February
    assert.deepEqual(nextIso('0 0 1 * MON', '2026-01-01T00:00:00Z', 6), [
      '2026-01-05T00:00:00Z', '2026-01-12T00:00:00Z', '2026-01-19T00:00:00Z', '2026-01-26T00:00:00Z',
      '2026-02-01T00:00:00Z', '2026-02-02T00:00:00Z',
    ]);
    // `+` asks for AND: the first 1st that is a Monday
    assert.deepEqual(nextIso('0 0 1 * +MON', '2026-01-01T00:00:00Z', 1), ['2026-06-01T00:00:00Z']);
  });

  test('? is a wildcard, so only the other day field restricts', () => {
    assert.deepEqual(nextIso('0 0 ? * MON', '2026-01-01T00:00:00Z', 2), ['2026-01-05T00:00:00Z', '2026-01-12T00:00:00Z']);
  });

  test('6 fields: seconds first', () => {
    assert.deepEqual(nextIso('*/15 * * * * *', '2026-01-01T12:00:07Z', 4), [
      '2026-01-01T12:00:15Z', '2026-01-01T12:00:30Z', '2026-01-01T12:00:45Z', '2026-01-01T12:01:00Z',
    ]);
    assert.deepEqual(nextIso('30 0 9 * * *', '2026-01-01T00:00:00Z', 1), ['2026-01-01T09:00:30Z']);
  });

  test('7 fields: seconds first, year last', () => {
    assert.deepEqual(nextIso('0 0 12 1 1 * 2027,2029', '2026-01-01T00:00:00Z', 3), ['2027-01-01T12:00:00Z', '2029-01-01T12:00:00Z']);
  });

  test('nicknames', () => {
    const from = '2026-03-01T00:00:00Z'; // a Sunday
    assert.deepEqual(nextIso('@yearly', from, 1), ['2027-01-01T00:00:00Z']);
    assert.deepEqual(nextIso('@annually', from, 1), ['2027-01-01T00:00:00Z']);
    assert.deepEqual(nextIso('@monthly', from, 1), ['2026-04-01T00:00:00Z']);
    assert.deepEqual(nextIso('@weekly', from, 1), ['2026-03-08T00:00:00Z']);
    assert.deepEqual(nextIso('@daily', from, 1), ['2026-03-02T00:00:00Z']);
    assert.deepEqual(nextIso('@midnight', from, 1), ['2026-03-02T00:00:00Z']);
    assert.deepEqual(nextIso('@HOURLY', from, 2), ['2026-03-01T01:00:00Z', '2026-03-01T02:00:00Z']);
    assert.deepEqual(nextIso('@daily', from, 1, 'Europe/Paris'), ['2026-03-01T23:00:00Z']);
  });

  test('month and day names, any case', () => {
    assert.deepEqual(nextIso('0 9 * JAN-MAR MON-FRI', '2026-01-01T00:00:00Z', 3), [
      '2026-01-01T09:00:00Z', '2026-01-02T09:00:00Z', '2026-01-05T09:00:00Z',
    ]);
    assert.deepEqual(nextIso('0 9 * jan-mar mon-fri', '2026-03-31T10:00:00Z', 1), ['2027-01-01T09:00:00Z']);
    assert.deepEqual(nextIso('0 0 * * SAT-SUN', '2026-01-01T00:00:00Z', 3), [
      '2026-01-03T00:00:00Z', '2026-01-04T00:00:00Z', '2026-01-10T00:00:00Z',
    ]);
    assert.deepEqual(nextIso('0 0 * * 7', '2026-01-01T00:00:00Z', 1), ['2026-01-04T00:00:00Z']);
  });

  test('steps, ranges and lists', () => {
    assert.deepEqual(nextIso('5-20/5 * * * *', '2026-01-01T00:00:00Z', 5), [
      '2026-01-01T00:05:00Z', '2026-01-01T00:10:00Z', '2026-01-01T00:15:00Z', '2026-01-01T00:20:00Z', '2026-01-01T01:05:00Z',
    ]);
    assert.deepEqual(nextIso('*/20 9-10 * * *', '2026-01-01T10:30:00Z', 3), [
      '2026-01-01T10:40:00Z', '2026-01-02T09:00:00Z', '2026-01-02T09:20:00Z',
    ]);
    assert.deepEqual(nextIso('5/20 * * * *', '2026-01-01T00:00:00Z', 3), ['2026-01-01T00:05:00Z', '2026-01-01T00:25:00Z', '2026-01-01T00:45:00Z']);
    assert.deepEqual(nextIso('0 0 1,15 * *', '2026-01-01T00:00:00Z', 2), ['2026-01-15T00:00:00Z', '2026-02-01T00:00:00Z']);
  });
});

describe('compileSchedule', () => {
  test('normalises whitespace and shares one calculator per (expression, effective zone)', () => {
    const a = compile('  */5   *  * * * ');
    assert.equal(a.cron, '*/5 * * * *');
    assert.equal(a.timeZone, 'UTC');
    assert.equal(compile('*/5 * * * *', 'UTC'), a);
    assert.notEqual(compile('*/5 * * * *', 'Europe/Paris'), a);
    assert.equal(normalizeCron(' @Daily '), '@daily');
  });

  test('an empty time zone means UTC', () => {
    assert.deepEqual(nextIso('0 9 * * *', '2026-01-01T00:00:00Z', 1), ['2026-01-01T09:00:00Z']);
    assert.deepEqual(nextIso('0 9 * * *', '2026-01-01T00:00:00Z', 1, 'Asia/Tokyo'), ['2026-01-02T00:00:00Z']);
  });
});

describe('schedule validation names the field at fault', () => {
  const cases: [string, string][] = [
    ['0 0 32 * *', 'day-of-month: value 32 out of range 1-31'],
    ['0 x * * *', 'hour: invalid value "x"'],
    ['60 * * * *', 'minute: value 60 out of range 0-59'],
    ['0 24 * * *', 'hour: value 24 out of range 0-23'],
    ['0 0 1 13 *', 'month: value 13 out of range 1-12'],
    ['0 0 * FOO *', 'month: invalid value "FOO"'],
    ['0 0 * * 8', 'day-of-week: value 8 out of range 0-7'],
    ['0 0 * * MON#6', 'day-of-week: "#6"'],
    ['61 * * * * *', 'second: value 61 out of range 0-59'],
    ['0 0 0 1 1 * 1969', 'year: value 1969 out of range 1970-9999'],
    ['*/0 * * * *', 'minute: invalid step "/0"'],
    ['*/61 * * * *', 'minute: step "/61"'],
    ['5-2 * * * *', 'minute: range "5-2" runs backwards'],
    ['0 0 1,,2 * *', 'day-of-month: empty element'],
    ['* * * *', 'got 4'],
    ['1 2 3 4 5 6 2030 8', 'got 8'],
    ['', 'required'],
    ['@reboot', '@reboot is not supported'],
    ['@fortnightly', 'unknown nickname "@fortnightly"'],
  ];
  for (const [cron, message] of cases) {
    test(`"${cron}" -> ${message}`, () => {
      const found = violations(cron);
      assert.equal(found.length, 1);
      assert.equal(found[0]?.field, 'schedule.cron');
      assert.ok(found[0]?.description.startsWith(message) || found[0]?.description.includes(message), found[0]?.description);
    });
  }

  test('impossible dates never fire: February 30, April 31', () => {
    for (const cron of ['0 0 30 2 *', '0 0 31 4 *', '0 0 0 31 2 * *']) {
      assert.deepEqual(violations(cron), [{ field: 'schedule.cron', description: 'never fires: no date matches (e.g. February 30)' }]);
    }
  });

  test('a 7-field expression whose years have passed never fires', () => {
    const [v] = violations('0 0 0 1 1 * 2020,2025');
    assert.match(v?.description ?? '', /^never fires/);
    assert.doesNotThrow(() => compileSchedule({ cron: '0 0 0 1 1 * 2020', timeZone: '' }, 'schedule', at('2019-06-01T00:00:00Z')));
    // without `now` (a stored task in the engine) it compiles and just has no next time
    assert.equal(compileSchedule({ cron: '0 0 0 1 1 * 2020', timeZone: '' }).next(at('2026-01-01T00:00:00Z')), undefined);
  });

  test('unknown time zone is reported on time_zone; both problems are reported together', () => {
    assert.deepEqual(violations('0 0 * * *', 'Mars/Olympus'), [
      { field: 'schedule.time_zone', description: 'unknown IANA time zone "Mars/Olympus"' },
    ]);
    assert.deepEqual(violations('0 0 32 * *', 'Mars/Olympus', 'task.schedule').map((v) => v.field), [
      'task.schedule.cron', 'task.schedule.time_zone',
    ]);
  });

  test('croner errors are wrapped too', () => {
    const [v] = violations('0 0 LW,1 * *');
    assert.match(v?.description ?? '', /^invalid cron expression: .*LW/);
  });
});

describe('Schedule.next memo', () => {
  /** croner as src/domain/schedule.ts configures it, without any memo: the reference. */
  function reference(cron: string, timeZone: string): (afterMs: number) => number | undefined {
    const utc = timeZone === '' || timeZone === 'UTC';
    const raw = new Cron(cron.toUpperCase(), {
      paused: true,
      ...(utc ? { utcOffset: 0 } : { timezone: timeZone }),
      sloppyRanges: true,
      domAndDow: false,
      fixedTimeRule: 'no-wildcard',
    });
    return (afterMs) => {
      const date = raw.nextRun(new Date(afterMs));
      return date === null ? undefined : date.getTime();
    };
  }

  /** Deterministic pseudo-random numbers, so a failure replays. */
  function lcg(seed: number): () => number {
    let x = seed >>> 0;
    return () => {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      return x / 4294967296;
    };
  }

  const cases: [string, string][] = [
    ['30 2 * * *', 'Europe/Berlin'],
    ['30 2 * * *', 'America/New_York'],
    ['*/20 1-3 * * *', 'America/New_York'],
    ['0 * * * *', ''],
    ['* * * * * *', ''],
    ['15 */7 * * * *', 'Europe/Berlin'],
    ['0 0 12 1 1 * 2027-2028', ''],
  ];
  for (const [cron, zone] of cases) {
    test(`answers exactly what croner answers, at any millisecond: ${cron} ${zone || 'UTC'}`, () => {
      const schedule = compileSchedule({ cron, timeZone: zone });
      const expected = reference(cron, zone);
      const random = lcg(cron.length * 31 + zone.length);
      // Around both 2026 DST changes of Europe and the US, and anywhere in 2026-2029.
      const windows = [at('2026-03-08T05:00:00Z'), at('2026-03-29T00:00:00Z'), at('2026-10-25T00:00:00Z'), at('2026-11-01T04:00:00Z')];
      for (let i = 0; i < 3000; i++) {
        const base = i % 3 === 0 ? at('2026-01-01T00:00:00Z') + random() * 4 * 365 * 86_400_000 : windows[i % windows.length]! + random() * 4 * 3_600_000;
        // Whole seconds, sub-second instants, and the same second asked twice (a memo hit).
        const after = i % 2 === 0 ? Math.floor(base / 1000) * 1000 : base;
        assert.equal(schedule.next(after), expected(after), `${cron} ${zone} after ${new Date(after).toISOString()}`);
        assert.equal(schedule.next(after + (i % 7) * 100), expected(after + (i % 7) * 100));
      }
      // Walking a chain, as nextTimes and the engine do, agrees step by step.
      let from = at('2026-03-01T00:00:00Z');
      for (let i = 0; i < 200; i++) {
        const want = expected(from);
        assert.equal(schedule.next(from), want);
        if (want === undefined) break;
        from = want;
      }
    });
  }
});

describe('Schedule.next memo hits', () => {
  /** Counts croner's nextRun calls made while `fn` runs. */
  function cronerCalls(fn: () => void): number {
    const original = Cron.prototype.nextRun;
    let calls = 0;
    Cron.prototype.nextRun = function (this: Cron, ...args: Parameters<Cron['nextRun']>) {
      calls++;
      return original.apply(this, args);
    };
    try {
      fn();
    } finally {
      Cron.prototype.nextRun = original;
    }
    return calls;
  }

  test('the same chain of next times asked for many tasks costs croner once per link', () => {
    const schedule = compileSchedule({ cron: '17 3 * * *', timeZone: 'Europe/Berlin' });
    const from = at('2026-05-01T10:00:00.250Z');
    const calls = cronerCalls(() => {
      for (let task = 0; task < 1000; task++) assert.equal(schedule.nextTimes(from + (task % 700), 5).length, 5);
    });
    assert.equal(calls, 5);
  });

  test('a new "now" every second does not push out the links asked for again and again', () => {
    const schedule = compileSchedule({ cron: '41 * * * *', timeZone: 'America/New_York' });
    const start = at('2026-05-01T10:00:00Z');
    const anchor = at('2026-05-02T00:00:00Z');
    const calls = cronerCalls(() => {
      for (let s = 0; s < 60; s++) {
        schedule.next(start + s * 1000); // "now", a new key each second
        assert.equal(schedule.nextTimes(anchor, 5).length, 5); // a start_time shared by many tasks
      }
    });
    assert.equal(calls, 60 + 5);
  });
});
