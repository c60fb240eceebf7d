import type { Timestamp } from '@bufbuild/protobuf/wkt';

/** A google.protobuf.Timestamp in epoch milliseconds; undefined stays undefined (unset fields). */
export function msFromTimestamp(ts: Timestamp | undefined): number | undefined {
  return ts === undefined ? undefined : Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1_000_000);
}

/** An instant in RFC 3339 UTC, milliseconds only when there are any: unambiguous in logs and pastes. */
export function formatInstant(ms: number): string {
  const iso = new Date(ms).toISOString();
  return iso.endsWith('.000Z') ? `${iso.slice(0, -5)}Z` : iso;
}

/** An instant in RFC 3339 UTC, always with milliseconds, so live lines keep their columns. */
export function formatInstantMs(ms: number): string {
  return new Date(ms).toISOString();
}

/** An instant as wall-clock time in an IANA zone with its offset ("2026-03-09 09:00:00 +01:00 Mon"). */
export function formatZoned(ms: number, timeZone: string): string {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
    weekday: 'short',
    timeZoneName: 'longOffset',
  }).formatToParts(new Date(ms));
  const part = (type: Intl.DateTimeFormatPartTypes) => parts.find((p) => p.type === type)?.value ?? '';
  const offset = part('timeZoneName').replace(/^GMT/, '') || '+00:00';
  return `${part('year')}-${part('month')}-${part('day')} ${part('hour')}:${part('minute')}:${part('second')} ${offset} ${part('weekday')}`;
}
