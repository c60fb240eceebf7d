import { get } from 'node:http';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { join } from 'node:path';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Args, isMain } from './lib/args.js';
import { BENCH_DIST, spawnNode } from './lib/children.js';
import { runLoad } from './lib/load.js';
import { CpuMeter } from './lib/proc.js';
import { RawSchedulerClient } from './lib/raw-client.js';
import { formatTable, log } from './lib/results.js';
import { mixedSchedule, scaleTaskName, teamLabel } from './lib/schedules.js';
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
    window.from = monotonicMicros();
    const clientCpu = process.cpuUsage();
    const r = await runLoad(op('m'), { concurrency, maxOps: 10_000_000, maxMs: seconds * 1000 });
    window.to = monotonicMicros();
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

/** CLOCK_MONOTONIC in µs: the clock V8's --cpu-prof timestamps use on Linux, so the measured window can be cut out of the profile. */
function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

function metric(port: number, name: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = get(`http://127.0.0.1:${port}/metrics`, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        const line = body.split('\n').find((l) => l.startsWith(`${name} `));
        resolve(line === undefined ? undefined : Number(line.split(' ')[1]));
      });
    });
    req.on('error', () => resolve(undefined));
  });
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

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** Self time by function, inclusive time of functions matching `match`, and time by file, for samples inside `window` only. */
function summarise(path: string, window: { from: number; to: number }, top: number, match: string): void {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as { nodes: ProfileNode[]; startTime: number; samples: number[]; timeDeltas: number[] };
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const c of node.children ?? []) parent.set(c, node.id);
  }
  const short = (url: string) => (url === '' ? '(native)' : url.startsWith('file://') ? relative(process.cwd(), new URL(url).pathname) : url);
  const key = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'} ${short(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
  const re = match === '' ? undefined : new RegExp(match);
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const files = new Map<string, number>();
  let sum = 0;
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    at += dt;
    if (at < window.from || at > window.to) continue;
    const node = byId.get(profile.samples[i]!);
    if (node === undefined) continue;
    sum += dt;
    self.set(key(node), (self.get(key(node)) ?? 0) + dt);
    files.set(short(node.callFrame.url), (files.get(short(node.callFrame.url)) ?? 0) + dt);
    if (re === undefined) continue;
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const n = byId.get(id)!;
      if (!re.test(n.callFrame.functionName)) continue;
      const k = key(n);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + dt);
    }
  }
  const pct = (v: number) => fmt((v / sum) * 100);
  const rows = (m: Map<string, number>, n: number) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => [k, pct(v)]);
  process.stdout.write(`\n${path}: ${fmt(sum / 1000)} ms sampled in the measured window\n`);
  process.stdout.write(`${formatTable(['function (self)', '%'], rows(self, top))}\n\n${formatTable(['file (self)', '%'], rows(files, 15))}\n`);
  if (re !== undefined) process.stdout.write(`\n${formatTable(['function (inclusive)', '%'], rows(inclusive, 40))}\n`);
}

if (isMain(import.meta.url)) {
  main().then(() => process.exit(0), (err) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
