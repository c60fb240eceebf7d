import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Args, isMain } from './lib/args.js';
import { BENCH_DIST, spawnNode } from './lib/children.js';
import { runLoad } from './lib/load.js';
import { CpuMeter } from './lib/proc.js';
import { hotFunctions, inclusiveTimes, monotonicUs } from './lib/profile.js';
import { RawSchedulerClient } from './lib/raw-client.js';
import { formatTable, log } from './lib/results.js';
import { mixedSchedule, scaleTaskName, teamLabel } from './lib/schedules.js';
import { metric } from './lib/service-metrics.js';
import { CronplaneProcess } from './lib/service-process.js';
import { fmt } from './lib/stats.js';
import { publishTask, type TaskInit } from './lib/task-specs.js';

/**
 * One control-plane RPC in isolation, for before/after comparisons and profiles of that RPC
 * alone (bench/rpc.ts runs all three against the echo server; its profile mixes them):
 *
 *   node dist/bench/rpc-focus.js --method create|get|list --concurrency 64 --seconds 10 [--preload 10000]
 *     [--db existing.db --names scale]   an existing store, e.g. one seeded by scale-seed (1M tasks)
 *     [--seed 1000000 --keep-db path]    seed that many scale tasks first (scale-seed child), keep the file
 *     [--page-size 50] [--walk]          ListTasks: walk pages in order (as bench/scale.ts) instead of page 1
 *     [--prof] [--top 30] [--match RE]   --cpu-prof on the service, then a summary of the profile
 *
 * Prints ops/s, latency and the service's CPU. Nothing here asserts on time.
 */

const SUBJECT = 'cpbench.focus.fire';

async function main(): Promise<void> {
  const args = new Args();
  const method = args.string('method', 'create');
  const concurrency = args.number('concurrency', 64);
  const seconds = args.number('seconds', 10);
  const pageSize = args.number('page-size', 50);
  const walk = args.flag('walk');
  const prof = args.flag('prof');
  let dbPath = args.string('db', '');
  const seedCount = args.number('seed', 0);
  const startTime = Date.now() + 86_400_000;
  if (seedCount > 0) {
    dbPath = args.string('keep-db', dbPath);
    if (dbPath === '') throw new Error('--seed needs --keep-db <path>');
    if (existsSync(dbPath)) throw new Error(`${dbPath} exists; remove it or pass it as --db`);
    log(`focus: seeding ${seedCount} tasks into ${dbPath}`);
    const child = spawnNode(join(BENCH_DIST, 'scale-seed.js'), ['--db', dbPath, '--from', '0', '--count', String(seedCount), '--start-time', String(startTime), '--subject', SUBJECT], { name: 'scale-seed' });
    await child.waitForJson((v) => v['done'] === true, 1_800_000, 'seed done');
  }
  const useScaleNames = dbPath !== '' && args.string('names', 'scale') === 'scale';
  const preload = dbPath !== '' ? 0 : args.number('preload', 10_000);
  const profileDir = prof ? join('bench/results/profiles', `focus-${method}-${Date.now()}`) : undefined;
  const service = new CronplaneProcess({
    ...(dbPath !== '' ? { dbPath } : {}),
    logLevel: 'warn',
    startTimeoutMs: 900_000,
    ...(profileDir !== undefined ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] } : {}),
  });
  await service.start();
  log(`focus: service up after ${fmt(service.startupMs)} ms`);
  const client = new RawSchedulerClient(service.address);
  const window = { from: 0, to: 0 };
  try {
    let seq = 0;
    const newTask = (prefix: string): TaskInit => {
      const i = seq++;
      const s = mixedSchedule(i);
      return { ...publishTask(`${prefix}-${i}`, s.cron, SUBJECT, s.timeZone, teamLabel(i)), startTime: timestampFromMs(startTime) };
    };
    if (preload > 0) {
      log(`focus: preloading ${preload} tasks`);
      await runLoad(() => service.client.createTask({ task: newTask('pre') }), { concurrency: 64, maxOps: preload, maxMs: 600_000 });
    }
    const known = dbPath !== '' ? seedCount || 10_000 : preload;
    const nameOf = (i: number) => (useScaleNames ? scaleTaskName(i) : `pre-${i}`);
    let token = '';
    const op = (prefix: string) => async (): Promise<unknown> => {
      switch (method) {
        case 'create':
          return client.call('createTask', RawSchedulerClient.encode('createTask', { task: newTask(prefix) }));
        case 'get':
          return client.call('getTask', RawSchedulerClient.encode('getTask', { name: nameOf(Math.floor(Math.random() * known)) }));
        case 'list': {
          if (!walk) return client.call('listTasks', RawSchedulerClient.encode('listTasks', { pageSize }));
          const bytes = await service.client.listTasks({ pageSize, pageToken: token });
          token = bytes.nextPageToken;
          return bytes;
        }
        default:
          throw new Error(`unknown --method ${method}`);
      }
    };
    if (args.flag('drain')) await waitForDrain(service.httpPort);
    await runLoad(op('w'), { concurrency, maxOps: 100_000, maxMs: 1_000 });
    const meter = new CpuMeter(service.pid);
    meter.start();
    window.from = monotonicUs();
    const clientCpu = process.cpuUsage();
    const r = await runLoad(op('m'), { concurrency, maxOps: 10_000_000, maxMs: seconds * 1000 });
    window.to = monotonicUs();
    const used = process.cpuUsage(clientCpu);
    const clientPercent = ((used.user + used.system) / 1000 / r.elapsedMs) * 100;
    const cpu = meter.stop()?.percent;
    process.stdout.write(
      `${formatTable(['method', 'conc.', 'ops/s', 'p50 ms', 'p99 ms', 'max ms', 'errors', 'CPU %', 'client CPU %'], [
        [method, String(concurrency), fmt(r.opsPerSec), fmt(r.latency.p50), fmt(r.latency.p99), fmt(r.latency.max), String(r.errors), fmt(cpu), fmt(clientPercent)],
      ])}\n`,
    );
    if (r.errors > 0) log(`focus: first error: ${r.firstError}`);
  } finally {
    client.close();
    await service.stop(120_000);
    await service.dispose();
  }
  if (profileDir !== undefined) {
    const file = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
    if (file === undefined) return;
    const path = join(profileDir, file);
    summarise(path, window, args.number('top', 30), args.string('match', ''));
  }
}

/** Seeded tasks queue one task event each: let the outbox publisher finish before measuring (a 1M seed is 1M events). */
async function waitForDrain(port: number): Promise<void> {
  const t0 = performance.now();
  for (;;) {
    const depth = await metric(port, 'cronplane_outbox_events');
    if (depth === undefined || depth === 0) break;
    log(`focus: outbox ${depth} events, waiting`);
    await new Promise((r) => setTimeout(r, 2_000));
  }
  log(`focus: outbox drained after ${fmt(performance.now() - t0)} ms`);
}

/** Self time by function, inclusive time of functions matching `match`, and time by file, for samples inside `window` only. */
function summarise(path: string, window: { from: number; to: number }, top: number, match: string): void {
  const inWindow = { fromMonotonicUs: window.from, toMonotonicUs: window.to };
  const hot = hotFunctions(path, top, inWindow);
  process.stdout.write(`\n${path}: ${fmt(hot.totalMs)} ms sampled in the measured window\n`);
  process.stdout.write(`${formatTable(['function (self)', 'location', '%'], hot.functions.map((f) => [f.function, f.location, fmt(f.selfPercent)]))}\n\n`);
  process.stdout.write(`${formatTable(['file (self)', '%'], hot.byFile.map((f) => [f.file, fmt(f.selfPercent)]))}\n`);
  if (match === '') return;
  const rows = inclusiveTimes(path, new RegExp(match), 40, inWindow);
  process.stdout.write(`\n${formatTable(['function (inclusive)', 'location', '%'], rows.map((f) => [f.function, f.location, fmt(f.totalPercent)]))}\n`);
}

if (isMain(import.meta.url)) {
  main().then(() => process.exit(0), (err) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
