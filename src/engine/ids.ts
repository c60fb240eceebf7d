import { randomUUID } from 'node:crypto';

/** A clock this far behind the last id's millisecond starts a new series instead of continuing it. */
const NEW_SERIES_BEHIND_MS = 10_000;

let seriesMs = -Infinity;
let counter = 0;

/**
 * UUIDv7 (RFC 9562): time-ordered, so execution ids sort by creation and index well,
 * and still unique across replicas without coordination. The random bits come from
 * randomUUID (which draws from a cached entropy pool): a fresh randomBytes call per id cost
 * several percent of the CPU at thousands of fires a second.
 *
 * Monotonic within this process (RFC 9562 6.2, method 1): the 12 bits after the version are a
 * counter, started at random each millisecond and counted up for every further id in it (on
 * overflow, into the next millisecond). Ids made in the same millisecond then sort in the order
 * they were made, so thousands of executions of one scheduled second are appended to the
 * (scheduled_time, id) indexes instead of inserted all over their last pages. A clock a little
 * behind (a step back of NTP) continues the series; far behind, it starts a new one.
 */
export function uuidv7(nowMs: number = Date.now()): string {
  const random = randomUUID(); // xxxxxxxx-xxxx-4xxx-Yxxx-xxxxxxxxxxxx, Y in 8..b (the variant we keep)
  const ms = Math.max(0, Math.floor(nowMs));
  if (ms > seriesMs || ms < seriesMs - NEW_SERIES_BEHIND_MS) {
    seriesMs = ms;
    // The top bit clear: at least 2048 more ids fit in the millisecond before it overflows.
    counter = parseInt(random.slice(15, 18), 16) & 0x7ff;
  } else if (++counter > 0xfff) {
    seriesMs++;
    counter = 0;
  }
  const ts = seriesMs.toString(16).padStart(12, '0').slice(-12);
  return `${ts.slice(0, 8)}-${ts.slice(8, 12)}-7${counter.toString(16).padStart(3, '0')}-${random.slice(19)}`;
}
