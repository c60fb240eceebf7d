import { randomUUID } from 'node:crypto';

/**
 * UUIDv7 (RFC 9562): time-ordered, so execution ids sort by creation and index well,
 * and still unique across replicas without coordination. The random bits come from
 * randomUUID (which draws from a cached entropy pool): a fresh randomBytes call per id cost
 * several percent of the CPU at thousands of fires a second.
 */
export function uuidv7(nowMs: number = Date.now()): string {
  const random = randomUUID(); // xxxxxxxx-xxxx-4xxx-Yxxx-xxxxxxxxxxxx, Y in 8..b (the variant we keep)
  const ts = Math.max(0, Math.floor(nowMs)).toString(16).padStart(12, '0').slice(-12);
  return `${ts.slice(0, 8)}-${ts.slice(8, 12)}-7${random.slice(15, 18)}-${random.slice(19)}`;
}
