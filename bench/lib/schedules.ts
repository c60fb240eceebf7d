/**
 * The scale benchmark's schedule mix, "mostly hourly and daily", deterministic by task index:
 * 55% hourly (minute spread over the hour), 35% daily (24 (time of day, zone) pairs over
 * UTC, Europe/Berlin and America/New_York), 5% every 15 minutes, 3% weekly, 2% monthly: 295
 * distinct (expression, zone) pairs, which is what matters for memory: the engine keeps one
 * croner instance per distinct pair.
 */
export interface MixedSchedule {
  cron: string;
  timeZone: string;
}

const ZONES = ['', 'Europe/Berlin', 'America/New_York'];

export function mixedSchedule(i: number): MixedSchedule {
  const bucket = i % 100;
  const r = Math.floor(i / 100);
  if (bucket < 55) return { cron: `${r % 60} * * * *`, timeZone: '' };
  if (bucket < 90) return { cron: `${(r % 2) * 30} ${r % 24} * * *`, timeZone: ZONES[r % 3]! };
  if (bucket < 95) return { cron: `${r % 15}/15 * * * *`, timeZone: '' };
  if (bucket < 98) return { cron: `0 ${r % 24} * * ${r % 7}`, timeZone: '' };
  return { cron: `0 0 ${1 + (r % 28)} * *`, timeZone: '' };
}

/** Label on every task: 10 teams, so a label filter selects a tenth. */
export function teamLabel(i: number): Record<string, string> {
  return { team: `t${i % 10}` };
}

/** Zero-padded so that name order is index order. */
export function scaleTaskName(i: number): string {
  return `sc-${String(i).padStart(7, '0')}`;
}
