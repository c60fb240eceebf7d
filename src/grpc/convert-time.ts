import { create } from '@bufbuild/protobuf';
import { DurationSchema, TimestampSchema, type Duration, type Timestamp } from '@bufbuild/protobuf/wkt';
import type { FieldViolation } from '../domain/errors.js';

const NANOS_PER_MS = 1_000_000;
const MAX_NANOS = 999_999_999;

/**
 * The domain counts durations in ms: sub-millisecond parts are dropped (toward zero) and
 * negative durations stay negative, so domain validation can name the field.
 */
export function msFromDuration(duration: Duration, field: string, violations: FieldViolation[]): number {
  if (Math.abs(duration.nanos) > MAX_NANOS || (duration.seconds > 0n && duration.nanos < 0) || (duration.seconds < 0n && duration.nanos > 0)) {
    violations.push({ field, description: 'is not a valid google.protobuf.Duration (nanos out of range or sign mismatch)' });
    return 0;
  }
  const ms = Number(duration.seconds) * 1000 + Math.trunc(duration.nanos / NANOS_PER_MS);
  if (!Number.isSafeInteger(ms)) {
    violations.push({ field, description: 'is out of range' });
    return 0;
  }
  return ms;
}

/** A domain duration (ms) as google.protobuf.Duration. */
export function durationFromMillis(ms: number): Duration {
  const whole = Math.trunc(ms);
  const seconds = Math.trunc(whole / 1000);
  const nanos = (whole - seconds * 1000) * NANOS_PER_MS;
  // `+ 0` turns -0 into 0: nanos must carry the sign of seconds, and -0 is neither.
  return create(DurationSchema, { seconds: BigInt(seconds), nanos: nanos + 0 });
}

/** google.protobuf.Timestamp's own range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z. */
const MIN_TIMESTAMP_SECONDS = -62_135_596_800n;
const MAX_TIMESTAMP_SECONDS = 253_402_300_799n;

/**
 * The domain keeps instants as epoch ms; sub-millisecond parts are dropped. Seconds outside
 * the Timestamp range (years 1-9999) are a violation: beyond it lie instants that Date and the
 * cron calculator cannot represent (they throw RangeError, which would surface as INTERNAL).
 */
export function msFromTimestamp(timestamp: Timestamp, field: string, violations: FieldViolation[]): number {
  if (timestamp.nanos < 0 || timestamp.nanos > MAX_NANOS) {
    violations.push({ field, description: 'is not a valid google.protobuf.Timestamp (nanos out of range)' });
    return 0;
  }
  if (timestamp.seconds < MIN_TIMESTAMP_SECONDS || timestamp.seconds > MAX_TIMESTAMP_SECONDS) {
    violations.push({ field, description: 'is out of range: a google.protobuf.Timestamp lies between 0001-01-01 and 9999-12-31' });
    return 0;
  }
  return Number(timestamp.seconds) * 1000 + Math.floor(timestamp.nanos / NANOS_PER_MS);
}

/** An epoch-ms instant as google.protobuf.Timestamp (nanos always in [0, 1e9)). */
export function timestampFromMillis(ms: number): Timestamp {
  const whole = Math.floor(ms);
  const seconds = Math.floor(whole / 1000);
  return create(TimestampSchema, { seconds: BigInt(seconds), nanos: (whole - seconds * 1000) * NANOS_PER_MS });
}

/** Optional instants map to unset message fields. */
export function optionalTimestamp(ms: number | undefined): Timestamp | undefined {
  return ms === undefined ? undefined : timestampFromMillis(ms);
}
