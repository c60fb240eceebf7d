import type { FieldViolation } from '../domain/errors.js';

/**
 * Proto3 enums are open: a client may send a number this server does not know. Map it through
 * `table` or record a violation on `field` (and return `fallback`, which the caller discards
 * because it throws InvalidArgumentError for any violation).
 */
export function enumFromProto<T>(
  value: number,
  table: Readonly<Record<number, T>>,
  field: string,
  violations: FieldViolation[],
  fallback: T,
): T {
  const mapped = Object.hasOwn(table, value) ? table[value] : undefined;
  if (mapped === undefined) {
    violations.push({ field, description: `unknown enum value ${value}` });
    return fallback;
  }
  return mapped;
}
