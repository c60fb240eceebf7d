import { create } from '@bufbuild/protobuf';
import { DurationSchema, type Duration } from '@bufbuild/protobuf/wkt';
import { parseDuration } from '../config/duration.js';

/** Durations people type: the same forms as the service's own settings ("500ms", "30s", "5m", "1h30m"). */
export function parseDurationText(text: string): number | undefined {
  return parseDuration(text.trim());
}

/** Milliseconds as a google.protobuf.Duration message (what flags become). */
export function durationFromMs(ms: number): Duration {
  const seconds = Math.trunc(ms / 1000);
  return create(DurationSchema, { seconds: BigInt(seconds), nanos: (ms - seconds * 1000) * 1_000_000 });
}

/** Milliseconds in protobuf JSON form ("1.5s"), so task files can go through protobuf-es fromJson. */
export function durationJsonFromMs(ms: number): string {
  return `${ms / 1000}s`;
}

/** A google.protobuf.Duration in milliseconds (sub-millisecond parts dropped). */
export function msFromDuration(duration: Duration): number {
  return Number(duration.seconds) * 1000 + Math.trunc(duration.nanos / 1_000_000);
}

/** How long something took or may take, compact: "120ms", "1.5s", "2m3s", "1h". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(1))}s`;
  const parts: string[] = [];
  let rest = Math.round(ms / 1000);
  for (const [unit, size] of [['h', 3600], ['m', 60], ['s', 1]] as const) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0) parts.push(`${n}${unit}`);
  }
  return parts.join('');
}
