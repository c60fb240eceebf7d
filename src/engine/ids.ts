import { randomFillSync, randomUUID } from 'node:crypto';

/** A clock this far behind the last id's millisecond starts a new series instead of continuing it. */
const NEW_SERIES_BEHIND_MS = 10_000;

let seriesMs = -Infinity;
let counter = 0;
/** `seriesMs` as an id's first 15 characters, up to the version digit. */
let head = '';
/** The series' variant and 30 random bits, as text ("Yxxx-xxxx"): drawn once per series. */
let seriesRandom = '';

/** Random bytes for the 32 bits each id draws: filled 1,024 ids at a time. */
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

/**
 * UUIDv7 (RFC 9562): time-ordered, so execution ids sort by creation and index well,
 * and still unique across replicas without coordination. The time in an id may run a little
 * ahead of the clock (see below); nothing reads it back.
 *
 * Monotonic within this process (RFC 9562 6.2, method 1): the 12 bits after the version are a
 * counter, started at random for each new millisecond and counted up for every further id in
 * it (on overflow, into the next millisecond). Ids made in the same millisecond then sort in
 * the order they were made, as the (scheduled_time, id) orders of the store expect of a
 * creation order. (The engine's ids of one second come from a few milliseconds, so the saving
 * in index writes is too small to measure: see BENCHMARKS, round 8.) A clock a little behind
 * (a step back of NTP) continues the series; far behind, it starts a new one.
 *
 * The 62 random bits: 30 drawn once per series, 32 per id from a pooled buffer, so an id
 * cannot be guessed from another one of the same millisecond (execution ids reach other
 * services as Idempotency-Key). A randomUUID per id was a twentieth of the bytes a fire
 * allocated.
 */
export function uuidv7(nowMs: number = Date.now()): string {
  const ms = Math.max(0, Math.floor(nowMs));
  if (ms > seriesMs || ms < seriesMs - NEW_SERIES_BEHIND_MS) {
    const random = randomUUID(); // xxxxxxxx-xxxx-4xxx-Yxxx-xxxxxxxxxxxx, Y in 8..b (the variant we keep)
    seriesMs = ms;
    // The top bit clear: at least 2048 more ids fit in the millisecond before it overflows.
    counter = parseInt(random.slice(15, 18), 16) & 0x7ff;
    seriesRandom = random.slice(19, 28);
    head = headOf(seriesMs);
  } else if (++counter > 0xfff) {
    seriesMs++;
    counter = 0;
    head = headOf(seriesMs);
  }
  if (poolOffset === pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const own = pool.readUInt32BE(poolOffset);
  poolOffset += 4;
  return `${head}${counter.toString(16).padStart(3, '0')}-${seriesRandom}${own.toString(16).padStart(8, '0')}`;
}

function headOf(ms: number): string {
  const ts = ms.toString(16).padStart(12, '0').slice(-12);
  return `${ts.slice(0, 8)}-${ts.slice(8, 12)}-7`;
}
