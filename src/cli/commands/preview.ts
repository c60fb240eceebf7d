import { PreviewScheduleResponseSchema } from '../../gen/cronplane/v1/scheduler_service_pb.js';
import { expectPositionals, parseIntFlag } from '../args.js';
import { defineCommand } from '../command.js';
import { EXIT_OK, UsageError } from '../errors.js';
import { renderTable } from '../output-table.js';
import { formatRelativeTime } from '../relative-time.js';
import { formatInstant, formatZoned, msFromTimestamp } from '../time-text.js';

/** `cronplane preview`: try a cron expression before a task depends on it. */
export const previewCommand = defineCommand({
  name: 'preview',
  summary: 'validate a cron expression and list its next times',
  usage: `usage: cronplane preview "<cron>" [--tz ZONE] [-n N] [--from TIME]

options:
  --tz ZONE     IANA time zone the expression is read in (default UTC)
  -n, --count N how many times (default 10, at most 1000)
  --from TIME   list times after this RFC 3339 instant (default now)
`,
  options: { tz: { type: 'string' }, count: { type: 'string', short: 'n' }, from: { type: 'string' } },
  async run(ctx, values, positionals) {
    const [cron] = expectPositionals(positionals, ['"<cron>"'], ctx.usage);
    const count = values.count === undefined ? 10 : parseIntFlag(values.count, '--count', 1, 1000);
    let startTime: { seconds: bigint; nanos: number } | undefined;
    if (values.from !== undefined) {
      const ms = Date.parse(values.from);
      if (Number.isNaN(ms)) throw new UsageError(`--from takes an RFC 3339 time such as 2026-03-06T00:00:00Z, got "${values.from}"`);
      startTime = { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
    }
    const timeZone = values.tz ?? '';
    const res = await ctx.client().previewSchedule({ schedule: { cron: cron!, timeZone }, count, ...(startTime === undefined ? {} : { startTime }) });
    if (ctx.json) {
      ctx.printJson(PreviewScheduleResponseSchema, res);
      return EXIT_OK;
    }
    const now = ctx.now();
    const zone = timeZone === '' ? 'UTC' : timeZone;
    const rows = res.times.map((t, i) => {
      const ms = msFromTimestamp(t)!;
      return [String(i + 1), formatZoned(ms, zone), formatInstant(ms), formatRelativeTime(ms, now)];
    });
    if (rows.length === 0) ctx.err('the schedule has no further times\n');
    else ctx.out(renderTable(['#', `TIME (${zone})`, 'UTC', 'WHEN'], rows, { header: ctx.style.bold, align: ['right'] }));
    return EXIT_OK;
  },
});
