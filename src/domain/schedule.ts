import { Cron } from 'croner';
import { InvalidScheduleError, type FieldViolation } from './errors.js';
import { effectiveTimeZone, type ScheduleSpec } from './task.js';

/**
 * Schedules: croner as a pure calculator. One paused `Cron` per distinct (expression, time zone),
 * cached, because croner 11 allocates about 83 KB per instance. Never croner's `name` option
 * (a global registry), never a croner timer: the engine owns the one timer.
 */

/** Entries in the per-schedule memo of `next`. */
const MEMO_SIZE = 16;
/** Stored for "never fires again", which `undefined` cannot be in a Float64Array. */
const MEMO_NEVER = Number.NEGATIVE_INFINITY;

/**
 * A compiled, valid schedule: answers "when next?" in epoch ms (whole seconds).
 *
 * `next` is memoised: croner's answer depends only on the whole second of `after` (it starts
 * from the following whole second), so a small table per schedule, keyed by that second,
 * turns the many identical questions asked about tasks sharing a schedule (a ListTasks page's
 * next run times, ten thousand tasks firing on the same second) into one croner call each. A
 * zoned step costs about 50 us through Intl; a hit is a scan of 16 numbers. The table evicts
 * by the clock (second chance) rule, so the keys asked again and again (a chain of next run
 * times) stay while each new "now" passes through.
 */
export class Schedule {
  readonly #cron: Cron;
  /** Whole seconds of `after` (NaN = empty), the answers, and the clock's reference bits. Allocated on first use. */
  #memoKeys: Float64Array | undefined;
  #memoValues: Float64Array | undefined;
  #memoUsed: Uint8Array | undefined;
  #memoHand = 0;

  /** Use compileSchedule: it validates and shares instances. */
  constructor(
    /** The expression as normalised (trimmed, single spaces, nickname lower-cased). */
    readonly cron: string,
    /** The effective IANA time zone ('UTC' when the spec left it empty). */
    readonly timeZone: string,
    calculator: Cron,
  ) {
    this.#cron = calculator;
  }

  /** The first occurrence strictly after `afterMs`; undefined when the schedule never fires again. */
  next(afterMs: number): number | undefined {
    const second = Math.floor(afterMs / 1000);
    let keys = this.#memoKeys;
    let values = this.#memoValues;
    let used = this.#memoUsed;
    if (keys === undefined || values === undefined || used === undefined) {
      keys = this.#memoKeys = new Float64Array(MEMO_SIZE).fill(Number.NaN);
      values = this.#memoValues = new Float64Array(MEMO_SIZE);
      used = this.#memoUsed = new Uint8Array(MEMO_SIZE);
    }
    for (let i = 0; i < MEMO_SIZE; i++) {
      if (keys[i] === second) {
        used[i] = 1;
        const known = values[i]!;
        return known === MEMO_NEVER ? undefined : known;
      }
    }
    // Computed from the whole second, so the answer is the same for every `after` inside it.
    const time = this.#compute(second * 1000);
    let hand = this.#memoHand;
    while (used[hand] === 1) {
      used[hand] = 0;
      hand = (hand + 1) % MEMO_SIZE;
    }
    keys[hand] = second;
    values[hand] = time ?? MEMO_NEVER;
    this.#memoHand = (hand + 1) % MEMO_SIZE;
    return time;
  }

  #compute(afterMs: number): number | undefined {
    let from = afterMs;
    // croner promises "strictly after"; the loop only guards against a regression in that promise.
    for (let guard = 0; guard < 3; guard++) {
      const date = this.#cron.nextRun(new Date(from));
      if (date === null) return undefined;
      const time = date.getTime();
      if (time > afterMs + 999) return time;
      from = time + 1000;
    }
    return undefined;
  }

  /** Up to `count` occurrences strictly after `afterMs`, ascending (fewer when the schedule ends). */
  nextTimes(afterMs: number, count: number): number[] {
    const times: number[] = [];
    let from = afterMs;
    while (times.length < count) {
      const time = this.next(from);
      if (time === undefined) break;
      times.push(time);
      from = time;
    }
    return times;
  }
}

const CACHE_LIMIT = 10_000;
const cache = new Map<string, Schedule>();

/** Nicknames as Vixie cron knows them, in minute-first form. */
const NICKNAMES: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

interface CronField {
  name: string;
  min: number;
  max: number;
  names?: Readonly<Record<string, number>>;
}

const MONTH_NAMES = { JAN: 1, FEB: 2, MAR: 3, APR: 4, MAY: 5, JUN: 6, JUL: 7, AUG: 8, SEP: 9, OCT: 10, NOV: 11, DEC: 12 };
const DAY_NAMES = { SUN: 0, MON: 1, TUE: 2, WED: 3, THU: 4, FRI: 5, SAT: 6 };
const SECOND: CronField = { name: 'second', min: 0, max: 59 };
const MINUTE: CronField = { name: 'minute', min: 0, max: 59 };
const HOUR: CronField = { name: 'hour', min: 0, max: 23 };
const DAY_OF_MONTH: CronField = { name: 'day-of-month', min: 1, max: 31 };
const MONTH: CronField = { name: 'month', min: 1, max: 12, names: MONTH_NAMES };
const DAY_OF_WEEK: CronField = { name: 'day-of-week', min: 0, max: 7, names: DAY_NAMES };
const YEAR: CronField = { name: 'year', min: 1970, max: 9999 };
const LAYOUTS: Readonly<Record<number, readonly CronField[]>> = {
  5: [MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK],
  6: [SECOND, MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK],
  7: [SECOND, MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK, YEAR],
};

/** Croner searches from here to prove that some date matches at all (impossible dates give none). */
const REFERENCE_MS = Date.UTC(1970, 0, 1);

/** Trimmed, single-spaced; a nickname lower-cased. The form schedules are compared and cached by. */
export function normalizeCron(cron: string): string {
  const text = cron.trim().replace(/\s+/g, ' ');
  return text.startsWith('@') ? text.toLowerCase() : text;
}

/**
 * Validates a schedule and returns its (shared) calculator. Throws InvalidScheduleError with
 * violations on `${field}.cron` / `${field}.time_zone` whose messages name the cron field at fault.
 * With `nowMs` (API input), a 7-field expression whose years have all passed is refused too;
 * without it (stored tasks, the engine) such a schedule compiles and simply has no next time.
 */
export function compileSchedule(spec: ScheduleSpec, field = 'schedule', nowMs?: number): Schedule {
  const cron = normalizeCron(spec.cron);
  const timeZone = effectiveTimeZone(spec);
  const key = `${timeZone}\u0000${cron}`;
  let schedule = cache.get(key);
  if (schedule === undefined) {
    schedule = build(cron, timeZone, field);
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
  } else {
    cache.delete(key); // re-inserted below: least recently used goes first
  }
  cache.set(key, schedule);
  if (nowMs !== undefined && cron.split(' ').length === 7 && schedule.next(nowMs) === undefined) {
    throw new InvalidScheduleError([
      { field: `${field}.cron`, description: 'never fires again: every year in the year field has passed' },
    ]);
  }
  return schedule;
}

/** Zone names that are UTC all year, so a fixed offset of 0 is exact. */
const UTC_ZONES = new Set(['UTC', 'Etc/UTC', 'Etc/GMT', 'GMT', 'Etc/Universal', 'Universal', 'Etc/Zulu', 'Zulu', 'Etc/UCT', 'UCT', 'Etc/GMT0', 'Etc/GMT+0', 'Etc/GMT-0', 'GMT0', 'GMT+0', 'GMT-0', 'Etc/Greenwich', 'Greenwich']);

function build(cron: string, timeZone: string, field: string): Schedule {
  const violations: FieldViolation[] = [];
  const cronViolations = checkCron(cron);
  for (const description of cronViolations) violations.push({ field: `${field}.cron`, description });
  if (!isKnownTimeZone(timeZone)) {
    violations.push({ field: `${field}.time_zone`, description: `unknown IANA time zone "${timeZone}"` });
  }
  if (violations.length > 0) throw new InvalidScheduleError(violations);

  const expression = (NICKNAMES[cron] ?? cron).toUpperCase();
  let instance: Cron;
  try {
    instance = new Cron(expression, {
      paused: true,
      // UTC as a numeric offset: croner then computes with Date's UTC fields instead of an
      // Intl.DateTimeFormat round trip per step, several times faster on the firing path.
      ...(UTC_ZONES.has(timeZone) ? { utcOffset: 0 } : { timezone: timeZone }),
      sloppyRanges: true,
      domAndDow: false, // Vixie: day-of-month OR day-of-week when both are restricted
      fixedTimeRule: 'no-wildcard', // Vixie: `30 2,14 * * *` runs once after a DST gap, once in an overlap
    });
  } catch (cause) {
    const message = cause instanceof Error ? cause.message.replace(/^CronPattern:\s*/, '') : String(cause);
    throw new InvalidScheduleError([{ field: `${field}.cron`, description: `invalid cron expression: ${message}` }], { cause });
  }
  const schedule = new Schedule(cron, timeZone, instance);
  let first: number | undefined;
  try {
    first = schedule.next(REFERENCE_MS);
  } catch (cause) {
    throw new InvalidScheduleError([{ field: `${field}.time_zone`, description: `unusable time zone "${timeZone}"` }], { cause });
  }
  if (first === undefined) {
    throw new InvalidScheduleError([
      { field: `${field}.cron`, description: 'never fires: no date matches (e.g. February 30)' },
    ]);
  }
  return schedule;
}

/** True when the runtime's Intl knows the zone (croner resolves zones through Intl as well). */
function isKnownTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat(undefined, { timeZone });
    return true;
  } catch {
    return false;
  }
}

/** A light pre-check, so that messages name the field at fault; croner has the last word. */
function checkCron(cron: string): string[] {
  if (cron === '') return ['required: a cron expression such as "*/5 * * * *" or "@daily"'];
  if (cron === '@reboot') return ['@reboot is not supported: cronplane schedules by time only'];
  if (cron.startsWith('@')) {
    if (NICKNAMES[cron] !== undefined) return [];
    return [`unknown nickname "${cron}"; use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly`];
  }
  const parts = cron.split(' ');
  const layout = LAYOUTS[parts.length];
  if (layout === undefined) {
    return [
      `expected 5 fields (minute hour day-of-month month day-of-week), 6 (seconds first) or 7 (seconds first, year last), got ${parts.length}`,
    ];
  }
  const problems: string[] = [];
  layout.forEach((def, i) => {
    const problem = checkField(def, parts[i] as string);
    if (problem !== undefined) problems.push(`${def.name}: ${problem}`);
  });
  return problems;
}

function checkField(def: CronField, text: string): string | undefined {
  let body = text;
  if (def === DAY_OF_WEEK && body.startsWith('+')) body = body.slice(1);
  for (const item of body.split(',')) {
    const problem = item === '' ? `empty element in "${text}"` : checkItem(def, item);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

/** One list element; names and the L, W and # modifiers are case-insensitive, as in croner. */
function checkItem(def: CronField, item: string): string | undefined {
  if (def === DAY_OF_MONTH) {
    if (/^(L|LW)$/i.test(item)) return undefined;
    const weekday = /^(\d+)W$/i.exec(item);
    if (weekday !== null) return checkValue(def, weekday[1] as string);
  }
  let base = item;
  if (def === DAY_OF_WEEK) {
    const hash = item.indexOf('#');
    if (hash >= 0) {
      const nth = item.slice(hash + 1);
      if (!/^([1-5]|L)$/i.test(nth)) return `"#${nth}" in "${item}" must be #1 to #5 or #L`;
      base = item.slice(0, hash);
    } else if (item.length > 1 && /L$/i.test(item)) {
      base = item.slice(0, -1);
    }
  }
  const slash = base.split('/');
  if (slash.length > 2) return `invalid value "${item}"`;
  const [range = '', step] = slash;
  if (step !== undefined && !/^[1-9]\d*$/.test(step)) return `invalid step "/${step}" in "${item}": use a positive whole number`;
  const span = def === DAY_OF_WEEK ? 7 : def.max - def.min + 1;
  if (step !== undefined && Number(step) > span) return `step "/${step}" in "${item}" is larger than the field's ${span} values`;
  if (range === '*' || range === '?') return undefined;
  if (range === '') return step === undefined ? `invalid value "${item}"` : undefined;
  const bounds = range.split('-');
  if (bounds.length > 2) return `invalid range "${range}"`;
  for (const value of bounds) {
    const problem = checkValue(def, value);
    if (problem !== undefined) return problem;
  }
  if (bounds.length === 2) {
    const low = toNumber(def, bounds[0] as string);
    // `SAT-SUN`: SUN closes a range as 7, as in croner.
    const high = def === DAY_OF_WEEK && bounds[1]?.toUpperCase() === 'SUN' ? 7 : toNumber(def, bounds[1] as string);
    if (low > high) return `range "${range}" runs backwards; write it low-high`;
  }
  return undefined;
}

function checkValue(def: CronField, value: string): string | undefined {
  if (/^\d+$/.test(value)) {
    const n = Number(value);
    return n < def.min || n > def.max ? `value ${n} out of range ${rangeText(def)}` : undefined;
  }
  if (def.names !== undefined && Object.hasOwn(def.names, value.toUpperCase())) return undefined;
  return `invalid value "${value}" (allowed: ${rangeText(def)})`;
}

function rangeText(def: CronField): string {
  const names = def.names === undefined ? [] : Object.keys(def.names);
  const numeric = `${def.min}-${def.max}`;
  return names.length === 0 ? numeric : `${numeric} or ${names[0]}-${names[names.length - 1]}`;
}

function toNumber(def: CronField, value: string): number {
  return /^\d+$/.test(value) ? Number(value) : (def.names?.[value.toUpperCase()] ?? Number.NaN);
}
