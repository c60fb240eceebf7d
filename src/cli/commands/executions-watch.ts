import { toJson } from '@bufbuild/protobuf';
import { status } from '@grpc/grpc-js';
import { WatchExecutionsResponseSchema } from '../../gen/cronplane/v1/scheduler_service_pb.js';
import { expectPositionals, parseIntFlag } from '../args.js';
import { defineCommand } from '../command.js';
import { EXIT_OK, isServiceError } from '../errors.js';
import { formatEventLine } from '../execution-view.js';
import { parseStatesFlag } from './executions-list.js';

/** A stream that lived this long was really connected; losing it later is worth a reconnect. */
const CONNECTED_AFTER_MS = 2_000;
const MAX_BACKOFF_MS = 5_000;

/**
 * `cronplane executions watch`: one line per event as it happens, until Ctrl-C. When the service
 * goes away (restart, shutdown) it reconnects and resumes after the last sequence it printed, so
 * the replay fills the gap without repeats.
 */
export const executionsWatchCommand = defineCommand({
  name: 'executions watch',
  summary: 'print execution events live, one line each, until Ctrl-C',
  usage: `usage: cronplane executions watch [--task NAME]... [--state STATE,...] [--after-sequence N]

Each line: time, #sequence, task, state, execution id, trigger, attempt, duration, error.
With --json, one WatchExecutionsResponse per line (NDJSON).

options:
  --task NAME          only this task (repeatable; default all tasks)
  --state STATES       only events into these states, comma-separated
  --after-sequence N   first replay the kept events after sequence N, then go on live
`,
  options: { task: { type: 'string', multiple: true }, state: { type: 'string', multiple: true }, 'after-sequence': { type: 'string' } },
  async run(ctx, values, positionals) {
    expectPositionals(positionals, [], ctx.usage);
    const taskNames = values.task ?? [];
    const states = parseStatesFlag(values.state);
    // Unset until the first event: the first watch is live only; a reconnect resumes after the last one seen.
    let afterSequence = values['after-sequence'] === undefined ? undefined : BigInt(parseIntFlag(values['after-sequence'], '--after-sequence', 0));
    const client = ctx.client();
    const abort = new AbortController();
    const stop = () => abort.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    if (ctx.io.stderr.isTTY === true && !ctx.json) {
      ctx.err(`watching ${taskNames.length === 0 ? 'all tasks' : taskNames.join(', ')} (Ctrl-C to stop)\n`);
    }
    let connectedOnce = false;
    let outage = false;
    let backoffMs = 500;
    try {
      for (;;) {
        const startedAt = Date.now();
        try {
          for await (const res of client.watchExecutions({ taskNames, states, afterSequence }, { signal: abort.signal })) {
            connectedOnce = true;
            backoffMs = 500;
            if (outage) ctx.err('watch: reconnected\n');
            outage = false;
            const event = res.event;
            if (event === undefined) continue;
            if (afterSequence === undefined || event.sequence > afterSequence) afterSequence = event.sequence;
            ctx.out(ctx.json ? `${JSON.stringify(toJson(WatchExecutionsResponseSchema, res))}\n` : `${formatEventLine(event, ctx.style)}\n`);
          }
          if (abort.signal.aborted) return EXIT_OK;
          // The service ended the stream cleanly: treat it like a lost connection.
        } catch (err) {
          if (abort.signal.aborted) return EXIT_OK;
          const lost = isServiceError(err) && err.code === status.UNAVAILABLE;
          if (!lost) throw err;
          if (!connectedOnce && Date.now() - startedAt < CONNECTED_AFTER_MS) throw err;
        }
        connectedOnce = true;
        if (!outage) ctx.err(`watch: connection lost, reconnecting${afterSequence !== undefined ? ` to resume after #${afterSequence}` : ''}...\n`);
        outage = true;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, backoffMs);
          abort.signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
        });
        if (abort.signal.aborted) return EXIT_OK;
        backoffMs = Math.min(MAX_BACKOFF_MS, backoffMs * 2);
      }
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  },
});
