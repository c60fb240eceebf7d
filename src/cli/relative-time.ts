const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const YEAR = 365 * DAY;

const UNITS: ReadonlyArray<readonly [string, number]> = [
  ['y', YEAR],
  ['d', DAY],
  ['h', HOUR],
  ['m', MINUTE],
  ['s', SECOND],
];

/**
 * A span of time the way people read it at a glance: the largest unit, plus the next one while
 * the first is a single digit ("1m30s", "12m", "2d3h"). Rounded down to whole seconds.
 */
export function formatSpan(ms: number): string {
  const total = Math.floor(Math.abs(ms) / SECOND) * SECOND;
  if (total === 0) return '0s';
  for (let i = 0; i < UNITS.length; i++) {
    const [unit, size] = UNITS[i]!;
    if (total < size) continue;
    const whole = Math.floor(total / size);
    let text = `${whole}${unit}`;
    const next = UNITS[i + 1];
    if (whole < 10 && next !== undefined) {
      const rest = Math.floor((total - whole * size) / next[1]);
      if (rest > 0) text += `${rest}${next[0]}`;
    }
    return text;
  }
  return '0s';
}

/** Tables show instants relative to now ("in 3s", "2m ago"): what people scan a schedule for. */
export function formatRelativeTime(atMs: number, nowMs: number): string {
  const diff = atMs - nowMs;
  if (Math.abs(diff) < SECOND) return 'now';
  return diff > 0 ? `in ${formatSpan(diff)}` : `${formatSpan(diff)} ago`;
}
