import { isoMillisTrimmed } from './iso-time.js';

/**
 * Protobuf JSON pieces written by hand, as protobuf-es's toJsonString writes them, for the
 * event encoders (execution-event-json.ts, task-event-json.ts); unit tests hold each encoder
 * to protobuf-es byte for byte.
 */

/** google.protobuf.Timestamp's JSON range, as protobuf-es checks it. */
const MIN_TIMESTAMP_MS = Date.parse('0001-01-01T00:00:00Z');
const MAX_TIMESTAMP_MS = Date.parse('9999-12-31T23:59:59Z');

export const quote = JSON.stringify as (value: string) => string;

export function enumName(names: Readonly<Record<string, string>>, value: string): string {
  const name = Object.hasOwn(names, value) ? names[value] : undefined;
  if (name === undefined) throw new Error(`${value} is not a value of the enum`);
  return name;
}

/** An epoch-ms instant as google.protobuf.Timestamp JSON (timestampFromMillis drops sub-ms parts). */
export function timestampJson(ms: number): string {
  const whole = Math.floor(ms);
  // protobuf-es checks whole seconds against the range.
  const secondsMs = Math.floor(whole / 1000) * 1000;
  if (!(secondsMs >= MIN_TIMESTAMP_MS && secondsMs <= MAX_TIMESTAMP_MS)) {
    throw new Error('cannot encode message google.protobuf.Timestamp to JSON: must be from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z inclusive');
  }
  // ".000Z" -> "Z"; whole milliseconds otherwise keep their three digits.
  return `"${isoMillisTrimmed(whole)}"`;
}

/** Epoch-ms duration as google.protobuf.Duration JSON (durationFromMillis truncates toward zero). */
export function durationJson(ms: number): string {
  const whole = Math.trunc(ms);
  const seconds = Math.trunc(whole / 1000);
  const millis = Math.abs(whole - seconds * 1000);
  if (millis === 0) return `"${seconds}s"`;
  const text = `${seconds}.${String(millis).padStart(3, '0')}s`;
  return whole < 0 && seconds === 0 ? `"-${text}"` : `"${text}"`;
}

/** int32 as protobuf-es writes it: the number (JSON.stringify's form of it). */
export function int32Json(value: number): string {
  return JSON.stringify(value);
}
