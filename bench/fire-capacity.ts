import { Args, isMain } from './lib/args.js';
import { sleep } from './lib/children.js';
import { formatTable, log, writeResult } from './lib/results.js';
import { fmt } from './lib/stats.js';
import { measureSystem, type FireOptions, type FireResult } from './fire-precision.js';

/**
 * How many per-second tasks one system runs on this machine with none missed and none doubled
 * (and, for cronplane, its events keeping up with NATS; see `clean`): fire-precision runs at rising task counts (--from, then --step more each time) until one
 * misses or doubles, then halves the gap to the last clean count down to --resolution. Where
 * a fixed 10k run only says "saturated", this says how far from 10k the machine is, and it
 * moves when a change adds headroom. One run per count: at the edge a count can pass once and
 * fail the next time, so read the answer as within a step or so. A run that fails to start
 * (its creates too slow, say) counts as not clean.
 *
 *   node dist/bench/fire-capacity.js [--system cronplane] [--from 2000] [--step 1000] [--resolution 500] [--seconds 20]
 */

export interface CapacityResult {
  system: string;
  /** The largest count that ran clean (0 when none did, even bisecting below --from). */
  capacity: number;
  /** The search stopped at --max with every count clean: the capacity is at least that. */
  atLeast: boolean;
  runs: FireResult[];
}

/**
 * None missed, none doubled, and the events kept up: at most about a second of them (three per
 * fire) waiting for NATS after the window. Fires alone can run on time for 20 s while their
 * events pile up in the outbox, which no service can keep up for long (rounds 1-8 counted
 * those runs as clean).
 */
const clean = (r: FireResult) => r.missed === 0 && r.doubled === 0 && (r.outboxAtEnd === undefined || r.outboxAtEnd <= 3 * r.tasks);

export async function findCapacity(system: string, base: Omit<FireOptions, 'tasks' | 'systems'>, search: { from: number; step: number; resolution: number; max: number }): Promise<CapacityResult> {
  const runs: FireResult[] = [];
  const run = async (tasks: number): Promise<boolean> => {
    let result: FireResult;
    try {
      result = await measureSystem(system, { ...base, systems: [system], tasks });
    } catch (err) {
      log(`fire-capacity: ${system} at ${tasks} did not run: ${err instanceof Error ? err.message : String(err)}`);
      return false;
    }
    runs.push(result);
    log(`fire-capacity: ${system} at ${tasks}: missed ${result.missed}, doubled ${result.doubled}, p99 ${fmt(result.lateness.p99)} ms, events waiting ${result.outboxAtEnd ?? 'n/a'}`);
    await sleep(2_000); // let the machine settle
    return clean(result);
  };
  let good = 0;
  let bad: number | undefined;
  for (let tasks = search.from; tasks <= search.max; tasks += search.step) {
    if (!(await run(tasks))) {
      bad = tasks;
      break;
    }
    good = tasks;
  }
  while (bad !== undefined && bad - good > search.resolution) {
    const mid = Math.round((good + bad) / 2 / search.resolution) * search.resolution;
    if (mid <= good || mid >= bad) break;
    if (await run(mid)) good = mid;
    else bad = mid;
  }
  return { system, capacity: good, atLeast: bad === undefined, runs };
}

export function capacityTable(r: CapacityResult): string {
  return formatTable(
    ['tasks', 'received', 'missed', 'doubled', 'p50 ms', 'p99 ms', 'max ms', 'CPU %', 'of it writer %', 'events waiting'],
    [...r.runs]
      .sort((a, b) => a.tasks - b.tasks)
      .map((x) => [fmt(x.tasks), fmt(x.received), fmt(x.missed), fmt(x.doubled), fmt(x.lateness.p50), fmt(x.lateness.p99), fmt(x.lateness.max), fmt(x.cpuPercent), x.writerBusyPercent === undefined ? '' : fmt(x.writerBusyPercent), x.outboxAtEnd === undefined ? '' : fmt(x.outboxAtEnd)]),
  );
}

async function main(): Promise<void> {
  const args = new Args();
  const system = args.string('system', 'cronplane');
  const base: Omit<FireOptions, 'tasks' | 'systems'> = {
    seconds: args.number('seconds', 20),
    warmupSeconds: args.number('warmup', 5),
    cpuProf: false,
    bullmqConcurrency: args.number('bullmq-concurrency', 100),
    drainMaxMs: args.number('drain-max-ms', 30_000),
    createRate: args.number('create-rate', 500),
    serviceNodeArgs: args.list('service-node-args', []),
  };
  const search = { from: args.number('from', 2000), step: args.number('step', 1000), resolution: args.number('resolution', 500), max: args.number('max', 20_000) };
  const result = await findCapacity(system, base, search);
  const path = writeResult(args.string('out', 'fire-capacity'), { options: { ...base, ...search, system }, result });
  process.stdout.write(`\n${system}: ${result.atLeast ? 'at least ' : ''}${fmt(result.capacity)} per-second tasks with none missed or doubled (${base.seconds} s windows)\n${capacityTable(result)}\n\nwrote ${path}\n`);
}

if (isMain(import.meta.url)) {
  main().then(() => process.exit(0), (err) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
