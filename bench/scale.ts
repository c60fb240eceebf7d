import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Args, isMain } from './lib/args.js';
import { BENCH_DIST, sleep, spawnNode } from './lib/children.js';
import { runLoad, type LoadResult } from './lib/load.js';
import { memoryMiB } from './lib/proc.js';
import { formatTable, log, writeResult } from './lib/results.js';
import { mixedSchedule, scaleTaskName, teamLabel } from './lib/schedules.js';
import { metric } from './lib/service-metrics.js';
import { CronplaneProcess } from './lib/service-process.js';
import { fmt, round, Samples, type Summary } from './lib/stats.js';
import { publishTask } from './lib/task-specs.js';

/**
 * Scale: N registered tasks (mixed schedules, mostly hourly and daily). Tasks are seeded
 * straight into the SQLite file (fast) and/or created through gRPC at concurrency 64 (the
 * create rate); then ListTasks paging on the live service, a restart for the start-up time and
 * RSS of `cronplane serve`, and the heap after GC from an in-process child (--expose-gc).
 * Every task has start_time = now + 1 day: registered and in the timer heap, but not firing
 * while we measure (firing load is fire-precision's subject).
 */

export interface ScaleOptions {
  tasks: number;
  /** How many of the tasks are created through gRPC (the last ones); the rest are seeded. */
  grpcCreate: number;
  /** ListTasks pages to walk (bounded by listSeconds too). */
  listPages: number;
  listSeconds: number;
}

export interface ScaleResult {
  tasks: number;
  seeded: number;
  seedMs: number;
  grpcCreated: number;
  /** CreateTask through gRPC at concurrency 64, per chunk of the run (rate as the table grows). */
  createChunks: { upTo: number; opsPerSec: number; p99: number }[];
  create: { opsPerSec: number; p50: number; p99: number; errors: number } | undefined;
  listPage50: Summary & { pages: number };
  listPage50Filtered: Summary & { pages: number };
  listPage1000: Summary & { pages: number };
  /** Events in the outbox when the ListTasks walk began (seeded tasks queue one event each). */
  outboxAtList: number | undefined;
  /** How long the outbox took to drain after the walks, and the page-50 walk again once it had. */
  outboxDrainMs: number | undefined;
  listPage50Drained: (Summary & { pages: number }) | undefined;
  startupMs: number | undefined;
  engineStartedMs: number | undefined;
  startupError?: string;
  rssMiB: number | undefined;
  peakRssMiB: number | undefined;
  heapUsedMiB: number | undefined;
  heapBaselineMiB: number | undefined;
  heapPerTaskBytes: number | undefined;
  rssPerTaskBytes: number | undefined;
  heapError?: string;
  dbFileMiB: number;
  stopMs: number | undefined;
  /** Content hash of dist/src at the restart (others may rebuild dist/ during a run). */
  codeStamp: string;
}

const SUBJECT = 'cpbench.scale.fire';

function seed(dbPath: string, from: number, count: number, startTime: number): Promise<{ ms: number }> {
  const child = spawnNode(join(BENCH_DIST, 'scale-seed.js'), ['--db', dbPath, '--from', String(from), '--count', String(count), '--start-time', String(startTime), '--subject', SUBJECT], {
    name: 'scale-seed',
  });
  child.onLine((line) => {
    if (line.includes('"progress"')) log(`scale: seeding ${line}`);
  });
  return child.waitForJson<{ ms: number }>((v) => v['done'] === true, 1_800_000, 'seed done');
}

async function heapChild(dbPath: string): Promise<{ heapUsedMiB: number; startupMs: number; rssMiB: number }> {
  const child = spawnNode(join(BENCH_DIST, 'scale-heap-child.js'), ['--db', dbPath], {
    nodeArgs: ['--expose-gc', '--max-old-space-size=8192'],
    name: 'scale-heap-child',
  });
  try {
    return await child.waitForJson((v) => v['done'] === true, 900_000, 'heap child done');
  } finally {
    await child.stop('SIGKILL', 5_000);
  }
}

/** Waits (up to `maxMs`) for the outbox to empty; the ms it took, undefined if it did not. */
async function waitForOutbox(port: number, maxMs: number): Promise<number | undefined> {
  const t0 = performance.now();
  while (performance.now() - t0 < maxMs) {
    const depth = await metric(port, 'cronplane_outbox_events');
    if (depth === 0) return performance.now() - t0;
    await sleep(1_000);
  }
  return undefined;
}

async function walkPages(service: CronplaneProcess, pageSize: number, filter: string, maxPages: number, maxMs: number): Promise<Summary & { pages: number }> {
  const samples = new Samples();
  let token = '';
  const deadline = performance.now() + maxMs;
  for (let i = 0; i < maxPages && performance.now() < deadline; i++) {
    const t0 = performance.now();
    const page = await service.client.listTasks({ pageSize, pageToken: token, filter });
    samples.push(performance.now() - t0);
    token = page.nextPageToken;
  }
  return { ...samples.summary(), pages: samples.length };
}

export async function measureScale(opts: ScaleOptions, heapBaselineMiB: number | undefined): Promise<ScaleResult> {
  const dir = mkdtempSync(join(tmpdir(), 'cronplane-scale-'));
  const dbPath = join(dir, 'cronplane.db');
  const startTime = Date.now() + 86_400_000;
  const seeded = Math.max(0, opts.tasks - opts.grpcCreate);
  const grpcCreated = opts.tasks - seeded;
  try {
    let seedMs = 0;
    if (seeded > 0) {
      log(`scale: seeding ${seeded} tasks into ${dbPath}`);
      seedMs = (await seed(dbPath, 0, seeded, startTime)).ms;
      log(`scale: seeded ${seeded} in ${fmt(seedMs)} ms`);
    }

    // 1. A live service: gRPC creates on top of the seeded tasks, then ListTasks.
    let service = new CronplaneProcess({ dbPath, logLevel: 'info', startTimeoutMs: 900_000 });
    await service.start();
    log(`scale: service up with ${seeded} tasks after ${fmt(service.startupMs)} ms`);
    const createChunks: ScaleResult['createChunks'] = [];
    let create: ScaleResult['create'];
    if (grpcCreated > 0) {
      const chunk = Math.max(1000, Math.min(10_000, Math.ceil(grpcCreated / 10)));
      const all = new Samples();
      let ops = 0;
      let ms = 0;
      let errors = 0;
      for (let done = 0; done < grpcCreated; done += chunk) {
        const n = Math.min(chunk, grpcCreated - done);
        const base = seeded + done;
        const r: LoadResult = await runLoad(
          (i) => {
            const index = base + i;
            const s = mixedSchedule(index);
            const task = { ...publishTask(scaleTaskName(index), s.cron, SUBJECT, s.timeZone, teamLabel(index)), startTime: timestampFromMs(startTime) };
            return service.client.createTask({ task });
          },
          { concurrency: 64, maxOps: n, maxMs: 600_000, into: all },
        );
        ops += r.ops;
        ms += r.elapsedMs;
        errors += r.errors;
        if (r.errors > 0) log(`scale: ${r.errors} CreateTask errors, first: ${r.firstError}`);
        createChunks.push({ upTo: base + n, opsPerSec: round(r.opsPerSec), p99: round(r.latency.p99) });
        log(`scale: created up to ${base + n}: ${fmt(r.opsPerSec)}/s, p99 ${fmt(r.latency.p99)} ms`);
      }
      const summary = all.summary();
      create = { opsPerSec: (ops / ms) * 1000, p50: summary.p50, p99: summary.p99, errors };
    }
    const listSeconds = opts.listSeconds * 1000;
    const outboxAtList = await metric(service.httpPort, 'cronplane_outbox_events');
    const listPage50 = await walkPages(service, 50, '', opts.listPages, listSeconds);
    const listPage50Filtered = await walkPages(service, 50, 'labels.team=t3', Math.ceil(opts.listPages / 4), listSeconds / 2);
    const listPage1000 = await walkPages(service, 1000, '', Math.ceil(opts.listPages / 20), listSeconds / 2);
    log(`scale: ListTasks page 50 p99 ${fmt(listPage50.p99)} ms (${listPage50.pages} pages), filtered p99 ${fmt(listPage50Filtered.p99)} ms, page 1000 p99 ${fmt(listPage1000.p99)} ms; outbox at the start ${fmt(outboxAtList)} events`);
    // Seeded tasks queued a task event each: at 1M the walks above ran while the outbox publisher
    // drained about a million events. The page-50 walk again once it has, to tell the two apart.
    const outboxDrainMs = await waitForOutbox(service.httpPort, 300_000);
    const listPage50Drained = outboxDrainMs === undefined ? undefined : await walkPages(service, 50, '', opts.listPages, listSeconds);
    log(`scale: outbox drained after ${fmt(outboxDrainMs)} ms more; ListTasks page 50 then p99 ${fmt(listPage50Drained?.p99)} ms`);
    const stopped = await service.stop(120_000);
    await service.dispose();

    // 2. Start-up from the store: spawn -> 'cronplane serving', then RSS once settled.
    let startupMs: number | undefined;
    let engineStartedMs: number | undefined;
    let rss: { rss: number; peak: number } | undefined;
    let startupError: string | undefined;
    service = new CronplaneProcess({ dbPath, logLevel: 'info', startTimeoutMs: 900_000 });
    let stamp = '';
    try {
      await service.start();
      stamp = service.codeStamp;
      startupMs = service.startupMs;
      engineStartedMs = service.engineStartedMs;
      await sleep(3_000);
      rss = memoryMiB(service.pid);
      log(`scale: restart with ${opts.tasks} tasks: serving after ${fmt(startupMs)} ms, RSS ${fmt(rss?.rss)} MiB (peak ${fmt(rss?.peak)})`);
      await service.stop(120_000);
    } catch (err) {
      startupError = err instanceof Error ? err.message.slice(0, 500) : String(err);
      log(`scale: restart failed: ${startupError}`);
    } finally {
      await service.dispose();
    }

    // 3. Heap after GC, in-process.
    let heapUsedMiB: number | undefined;
    let heapError: string | undefined;
    try {
      const heap = await heapChild(dbPath);
      heapUsedMiB = heap.heapUsedMiB;
      log(`scale: heap after GC with ${opts.tasks} tasks: ${fmt(heapUsedMiB)} MiB (in-process start ${fmt(heap.startupMs)} ms)`);
    } catch (err) {
      heapError = err instanceof Error ? err.message.slice(0, 500) : String(err);
      log(`scale: heap child failed: ${heapError}`);
    }

    const dbFileMiB = statSync(dbPath).size / 2 ** 20;
    const perTask = (mib: number | undefined, base: number | undefined) =>
      mib === undefined || base === undefined ? undefined : ((mib - base) * 2 ** 20) / opts.tasks;
    return {
      tasks: opts.tasks,
      seeded,
      seedMs,
      grpcCreated,
      createChunks,
      create,
      listPage50,
      listPage50Filtered,
      listPage1000,
      outboxAtList,
      outboxDrainMs,
      listPage50Drained,
      startupMs,
      engineStartedMs,
      startupError,
      rssMiB: rss?.rss,
      peakRssMiB: rss?.peak,
      heapUsedMiB,
      heapBaselineMiB,
      heapPerTaskBytes: perTask(heapUsedMiB, heapBaselineMiB),
      rssPerTaskBytes: rss === undefined ? undefined : (rss.rss * 2 ** 20) / opts.tasks,
      heapError,
      dbFileMiB,
      stopMs: stopped.ms,
      codeStamp: stamp,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Heap of the service with no task at all, the baseline for "per task". */
export async function heapBaseline(): Promise<number | undefined> {
  const dir = mkdtempSync(join(tmpdir(), 'cronplane-scale-empty-'));
  try {
    return (await heapChild(join(dir, 'cronplane.db'))).heapUsedMiB;
  } catch (err) {
    log(`scale: baseline heap failed: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function scaleTable(results: ScaleResult[]): string {
  return formatTable(
    ['tasks', 'via gRPC', 'create/s (c=64)', 'create p99 ms', 'start-up s', 'RSS MiB', 'heap MiB', 'heap B/task', 'List p99 ms (50)', 'filtered p99', 'List p99 (1000)', 'outbox at List', 'List p99 (50) drained'],
    results.map((r) => [
      fmt(r.tasks),
      fmt(r.grpcCreated),
      fmt(r.create?.opsPerSec),
      fmt(r.create?.p99),
      r.startupMs === undefined ? `failed` : fmt(r.startupMs / 1000),
      fmt(r.rssMiB),
      fmt(r.heapUsedMiB),
      fmt(r.heapPerTaskBytes),
      fmt(r.listPage50.p99),
      fmt(r.listPage50Filtered.p99),
      fmt(r.listPage1000.p99),
      fmt(r.outboxAtList),
      fmt(r.listPage50Drained?.p99),
    ]),
  );
}

export async function runScale(plans: ScaleOptions[]): Promise<{ heapBaselineMiB: number | undefined; results: ScaleResult[] }> {
  const heapBaselineMiB = await heapBaseline();
  log(`scale: baseline heap (no tasks) ${fmt(heapBaselineMiB)} MiB`);
  const results: ScaleResult[] = [];
  for (const plan of plans) {
    try {
      results.push(await measureScale(plan, heapBaselineMiB));
    } catch (err) {
      log(`scale: ${plan.tasks} tasks failed: ${err instanceof Error ? err.stack : String(err)}`);
    }
  }
  return { heapBaselineMiB, results };
}

async function main(): Promise<void> {
  const args = new Args();
  const counts = args.numbers('tasks', [100_000, 1_000_000]);
  // Default: 100k all through gRPC; beyond that seed and create the last 10k through gRPC.
  const grpcCreate = args.numbers('grpc-create', counts.map((n) => (n <= 100_000 ? n : 10_000)));
  const plans = counts.map((tasks, i) => ({
    tasks,
    grpcCreate: Math.min(tasks, grpcCreate[i] ?? grpcCreate[grpcCreate.length - 1] ?? 10_000),
    listPages: args.number('list-pages', 2000),
    listSeconds: args.number('list-seconds', 30),
  }));
  const out = await runScale(plans);
  const path = writeResult(args.string('out', 'scale'), { plans, ...out });
  process.stdout.write(`\nScale (start_time tomorrow: registered, not firing; heap baseline ${fmt(out.heapBaselineMiB)} MiB)\n${scaleTable(out.results)}\n\nwrote ${path}\n`);
}

if (isMain(import.meta.url)) {
  main().then(() => process.exit(0), (err) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
