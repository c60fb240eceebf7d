import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Args, isMain } from './lib/args.js';
import { BENCH_DIST, sleep, spawnNode, type Child } from './lib/children.js';
import { runLoad } from './lib/load.js';
import { nowMs } from './lib/nats.js';
import { hotFunctions, monotonicUs, newestProfile } from './lib/profile.js';
import { NoiseMeter, waitForQuiet } from './lib/machine.js';
import { CpuMeter, memoryMiB, natsServerPid, redisPid } from './lib/proc.js';
import { formatTable, log, RESULTS_DIR, writeResult } from './lib/results.js';
import { CronplaneProcess, NATS_URL } from './lib/service-process.js';
import { fmt, Samples, type Summary } from './lib/stats.js';
import { publishTask } from './lib/task-specs.js';
import { WireSubscriber, type WireHeaders } from './lib/wire-subscriber.js';

/**
 * Fire precision: N tasks on a per-second schedule, each fire publishing one NATS message.
 * A subscriber in this process (on a socket of its own, see WireSubscriber) takes lateness =
 * receive time - Cronplane-Scheduled-Time and
 * counts (task, occurrence) pairs over a window of whole seconds, for cronplane (as a child
 * `cronplane serve`) and, one after another on the same NATS, for croner, node-cron and
 * BullMQ job schedulers (each in a child process of its own, publishing the same message).
 */

export const SYSTEMS = ['cronplane', 'croner', 'node-cron', 'bullmq'] as const;
/** Not a peer: one timer and a nats.js publish loop per second, the floor for one Node.js process. */
export const FLOOR = 'floor';
/** Not a peer: each second's messages pre-built and written at once, the floor of NATS and the subscriber. */
export const FLOOR_WIRE = 'floor-wire';
export type SystemName = (typeof SYSTEMS)[number];

export interface FireOptions {
  tasks: number;
  seconds: number;
  warmupSeconds: number;
  systems: string[];
  /** Run the cronplane child under --cpu-prof and summarise the profile. */
  cpuProf: boolean;
  bullmqConcurrency: number;
  /** After the window, keep listening this long at most for its late messages. */
  drainMaxMs: number;
  /**
   * CreateTask calls per second assumed when setting the tasks' common start time (the wait
   * before the first fire); the run fails if the creates end later than that allowed.
   */
  createRate: number;
  /** Extra Node.js flags for the cronplane child (trying a GC setting, say). */
  serviceNodeArgs: string[];
}

export interface FireResult {
  system: string;
  driver: string;
  tasks: number;
  seconds: number;
  expected: number;
  received: number;
  missed: number;
  doubled: number;
  /** Missed occurrences per second of the window: a stall shows as a whole second missing. */
  missedBySecond: number[];
  outOfWindow: number;
  lateness: Summary;
  cpuPercent: number | undefined;
  /** Redis's CPU for BullMQ (its work happens there too). */
  redisCpuPercent: number | undefined;
  natsCpuPercent: number | undefined;
  /** CPU used meanwhile by processes outside the benchmark (others' tests on a shared machine). */
  otherCpuPercent: number | undefined;
  rssMiB: number | undefined;
  setupMs: number;
  setupNote: string;
  /** Content hash of dist/src the cronplane child ran (empty for peers). */
  codeStamp: string;
  peerStats?: Record<string, unknown>;
  profile?: ReturnType<typeof hotFunctions> & { path: string };
  /**
   * cronplane only: lateness inside the engine (first attempt's start - scheduled time, from its
   * cronplane_fire_lateness_seconds histogram over the window): what the scheduler adds, without
   * the NATS delivery to a subscriber. Bucket bounds, so "p99 <= 10" means within the 10 ms bucket.
   */
  engineLateness?: { count: number; p50AtMostMs: number; p99AtMostMs: number; within10msPercent: number };
  /** cronplane only: share of one core its SQLite writer thread was busy over the window (part of CPU %). */
  writerBusyPercent?: number;
  /**
   * cronplane only: events waiting in its outbox for NATS just after the window. Fires can run
   * on time while their events pile up (publishing competes with them for the cores): about
   * three events per fire, so more than 3 x tasks here means the events fell behind.
   */
  outboxAtEnd?: number;
}

const NAME_PREFIX = 'fp-';

/** Counts deliveries per (task, second) of the window and keeps every in-window lateness. */
class FireCollector {
  private counts: Uint8Array;
  private windowStart = Infinity;
  private windowEnd = -Infinity;
  readonly lateness = new Samples();
  outOfWindow = 0;
  foreign = 0;
  lastInWindowAt = 0;
  private sub: WireSubscriber | undefined;
  private lastTimeText = '';
  private lastTime = NaN;

  constructor(private readonly tasks: number) {
    this.counts = new Uint8Array(0);
  }

  setWindow(start: number, end: number): void {
    this.windowStart = start;
    this.windowEnd = end;
    this.counts = new Uint8Array(this.tasks * ((end - start) / 1000));
  }

  get slots(): number {
    return (this.windowEnd - this.windowStart) / 1000;
  }

  /**
   * Subscribes on a socket of its own (see WireSubscriber): each message is stamped with the
   * time its bytes were read and parsed only when the counts are asked for, so a burst's later
   * messages do not look late by the parsing of the earlier ones.
   */
  async subscribe(subject: string): Promise<void> {
    this.sub = await WireSubscriber.connect(NATS_URL, subject, (at, headers) => this.record(at, headers));
  }

  private record(received: number, headers: WireHeaders): void {
    const task = headers.get('Cronplane-Task') ?? '';
    const scheduled = this.parseTime(headers.get('Cronplane-Scheduled-Time') ?? '');
    const index = Number(task.slice(NAME_PREFIX.length));
    if (!task.startsWith(NAME_PREFIX) || !Number.isInteger(index) || index < 0 || index >= this.tasks || !Number.isFinite(scheduled)) {
      this.foreign++;
      return;
    }
    if (scheduled < this.windowStart || scheduled >= this.windowEnd) {
      this.outOfWindow++;
      return;
    }
    const slot = Math.floor((scheduled - this.windowStart) / 1000);
    const i = slot * this.tasks + index;
    if (this.counts[i]! < 255) this.counts[i]!++;
    this.lateness.push(received - scheduled);
    this.lastInWindowAt = received;
  }

  /** Every message of one second carries the same time text: parse it once. */
  private parseTime(text: string): number {
    if (text !== this.lastTimeText) {
      this.lastTimeText = text;
      this.lastTime = Date.parse(text);
    }
    return this.lastTime;
  }

  async unsubscribe(): Promise<void> {
    const sub = this.sub;
    this.sub = undefined;
    await sub?.close();
  }

  /** Errors the subscription saw (none in a run to be trusted). */
  get errors(): string[] {
    return this.sub?.serverErrors ?? [];
  }

  /** Takes in every message read so far (they wait unparsed until asked for). */
  catchUp(): void {
    this.sub?.deliver();
  }

  tally(): { expected: number; received: number; missed: number; doubled: number; missedBySecond: number[] } {
    let missed = 0;
    let doubled = 0;
    let received = 0;
    const missedBySecond = new Array<number>(this.slots).fill(0);
    for (let i = 0; i < this.counts.length; i++) {
      const c = this.counts[i]!;
      received += c;
      if (c === 0) {
        missed++;
        missedBySecond[Math.floor(i / this.tasks)]!++;
      } else if (c > 1) doubled += c - 1;
    }
    return { expected: this.counts.length, received, missed, doubled, missedBySecond };
  }
}

async function waitUntil(epochMs: number): Promise<void> {
  const d = epochMs - Date.now();
  if (d > 0) await sleep(d);
}

interface RunningSystem {
  pid: number;
  codeStamp: string;
  driver: string;
  setupMs: number;
  setupNote: string;
  stop(): Promise<Record<string, unknown> | undefined>;
  profileDir?: string;
  /** cronplane's own metrics, where the system has them. */
  scrapeMetrics?: () => Promise<ServiceMetrics>;
}

interface ServiceMetrics {
  /** Cumulative fire-lateness histogram buckets (upper bound in ms -> count). */
  buckets: Map<number, number>;
  /** The SQLite writer thread's busy seconds so far. */
  writerBusySeconds: number | undefined;
  /** Execution and task events waiting in the outbox for NATS. */
  outboxEvents: number | undefined;
  at: number;
}

/** `cronplane_fire_lateness_seconds_bucket{le="0.01"} 123` lines -> (10 ms -> 123), and the writer's busy time. */
async function scrapeServiceMetrics(metricsUrl: string): Promise<ServiceMetrics> {
  const text = await (await fetch(metricsUrl)).text();
  const buckets = new Map<number, number>();
  for (const m of text.matchAll(/^cronplane_fire_lateness_seconds_bucket\{le="([^"]+)"\} (\d+)/gm)) {
    buckets.set(m[1] === '+Inf' ? Infinity : Number(m[1]) * 1000, Number(m[2]));
  }
  const busy = /^cronplane_store_writer_busy_seconds_total ([0-9.e+-]+)/m.exec(text);
  const outbox = /^cronplane_outbox_events ([0-9.e+-]+)/m.exec(text);
  return { buckets, writerBusySeconds: busy === null ? undefined : Number(busy[1]), outboxEvents: outbox === null ? undefined : Number(outbox[1]), at: performance.now() };
}

/** Share of one core the writer thread was busy between two scrapes. */
function writerBusyPercent(before: ServiceMetrics, after: ServiceMetrics): number | undefined {
  if (before.writerBusySeconds === undefined || after.writerBusySeconds === undefined) return undefined;
  return (100 * (after.writerBusySeconds - before.writerBusySeconds) * 1000) / (after.at - before.at);
}

function engineLatenessOf(before: Map<number, number>, after: Map<number, number>): FireResult['engineLateness'] {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const count = (after.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0);
  if (count <= 0) return undefined;
  const cumulative = (le: number) => (after.get(le) ?? 0) - (before.get(le) ?? 0);
  const atMost = (q: number) => bounds.find((le) => cumulative(le) >= q * count) ?? Infinity;
  return { count, p50AtMostMs: atMost(0.5), p99AtMostMs: atMost(0.99), within10msPercent: (100 * cumulative(10)) / count };
}

async function startCronplane(tasks: number, subject: string, opts: FireOptions): Promise<RunningSystem> {
  const profileDir = join(RESULTS_DIR, 'profiles', `fire-${tasks}-${Date.now()}`);
  if (opts.cpuProf) mkdirSync(profileDir, { recursive: true });
  const service = new CronplaneProcess({
    logLevel: 'warn',
    nodeArgs: [...opts.serviceNodeArgs, ...(opts.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])],
  });
  try {
    await service.start();
    return await createAndWait(service, tasks, subject, opts, profileDir);
  } catch (err) {
    // A run that never got going may still have a service child: stop it, or it fires on into
    // the next system's run; and its file of N tasks goes too.
    await service.dispose().catch(() => undefined);
    throw err;
  }
}

/** Creates the tasks, all due from one common start time, and waits for it. */
async function createAndWait(service: CronplaneProcess, tasks: number, subject: string, opts: FireOptions, profileDir: string): Promise<RunningSystem> {
  const t0 = performance.now();
  // Every task gets the same start_time, after the creates are done: tasks created while
  // thousands of others already fire would measure the creates' interference, not precision.
  const startTime = Math.ceil((Date.now() + Math.max(3_000, (tasks / opts.createRate) * 1000)) / 1000) * 1000;
  const created = await runLoad(
    (i) => service.client.createTask({ task: { ...publishTask(`${NAME_PREFIX}${i}`, '* * * * * *', subject), startTime: timestampFromMs(startTime) } }, { timeoutMs: 120_000 }),
    { concurrency: 64, maxOps: tasks, maxMs: 600_000 },
  );
  if (created.ops !== tasks) throw new Error(`created ${created.ops} of ${tasks} tasks (${created.errors} errors: ${created.firstError})`);
  const setupMs = performance.now() - t0;
  if (Date.now() > startTime - 500) {
    throw new Error(`the creates ended ${Date.now() - startTime + 500} ms too late for the common start time: lower --create-rate (now ${opts.createRate}/s)`);
  }
  await waitUntil(startTime);
  return {
    pid: service.pid,
    codeStamp: service.codeStamp,
    driver: 'cronplane (child process, SQLite, gRPC-created)',
    setupMs,
    setupNote: `${tasks} CreateTask at concurrency 64: ${fmt(created.opsPerSec)}/s, all starting at ${new Date(startTime).toISOString()}`,
    profileDir: opts.cpuProf ? profileDir : undefined,
    scrapeMetrics: () => scrapeServiceMetrics(`http://127.0.0.1:${service.httpPort}/metrics`),
    stop: async () => {
      const stopped = await service.stop(30_000);
      const errors = service.child.lines.filter((l) => l.includes('"level":"error"') || l.includes('"level":50')).length;
      await service.dispose();
      return { stopMs: stopped.ms, killed: stopped.killed, errorLogLines: errors, warnLogLines: service.child.lines.length };
    },
  };
}

async function startPeer(kind: string, tasks: number, subject: string, opts: FireOptions): Promise<RunningSystem> {
  const child: Child = spawnNode(join(BENCH_DIST, 'peers/peer-child.js'), [
    '--kind', kind,
    '--tasks', String(tasks),
    '--subject', subject,
    '--name-prefix', NAME_PREFIX,
    '--queue', `cpbench-${process.pid}-${Date.now()}`,
    '--concurrency', String(opts.bullmqConcurrency),
    '--max-seconds', String(opts.seconds + opts.warmupSeconds + 900),
  ], { name: `peer ${kind}` });
  const t0 = performance.now();
  const ready = await child.waitForJson<{ driver: string; setupMs: number }>((v) => v['ready'] === true, 600_000, 'peer ready');
  return {
    pid: child.pid,
    codeStamp: '',
    driver: ready.driver,
    setupMs: performance.now() - t0,
    setupNote: `${tasks} jobs created in ${fmt(ready.setupMs)} ms`,
    stop: async () => {
      const stopped = child.waitForJson((v) => v['stopped'] === true, 60_000, 'peer stopped').catch(() => undefined);
      await child.stop('SIGTERM', 60_000);
      return stopped;
    },
  };
}

/** One system, one task count: start, warm up, measure a window, drain, stop. */
export async function measureSystem(system: string, opts: FireOptions): Promise<FireResult> {
  const tasks = opts.tasks;
  const subject = `cpbench.fire.${process.pid}.${system.replace(/[^a-z0-9]/g, '')}.${tasks}`;
  const collector = new FireCollector(tasks);
  await waitForQuiet(`fire-precision ${system}`);
  await collector.subscribe(subject);
  log(`fire-precision: ${system} with ${tasks} per-second tasks: starting`);
  let running: RunningSystem;
  try {
    running = system === 'cronplane' ? await startCronplane(tasks, subject, opts) : await startPeer(system, tasks, subject, opts);
  } catch (err) {
    await collector.unsubscribe();
    throw err;
  }
  let stopInfo: Record<string, unknown> | undefined;
  try {
    const windowStart = Math.ceil((Date.now() + opts.warmupSeconds * 1000) / 1000) * 1000;
    const windowEnd = windowStart + opts.seconds * 1000;
    collector.setWindow(windowStart, windowEnd);
    log(`fire-precision: ${system}: ready after ${fmt(running.setupMs)} ms (${running.setupNote}); window ${new Date(windowStart).toISOString()} + ${opts.seconds} s`);

    const rPid = system === 'bullmq' ? redisPid() : undefined;
    const nPid = natsServerPid();
    // Just before the window's first fire: the histogram then holds only the warm-up's fires.
    await waitUntil(windowStart - 300);
    const metricsBefore = await running.scrapeMetrics?.().catch(() => undefined);
    await waitUntil(windowStart);
    const windowMonotonicUs = { fromMonotonicUs: monotonicUs(), toMonotonicUs: Infinity };
    const meter = new CpuMeter(running.pid);
    const redisMeter = rPid !== undefined ? new CpuMeter(rPid) : undefined;
    const natsMeter = nPid !== undefined ? new CpuMeter(nPid) : undefined;
    const noise = new NoiseMeter();
    noise.start([running.pid, ...(rPid !== undefined ? [rPid] : []), ...(nPid !== undefined ? [nPid] : [])]);
    meter.start();
    redisMeter?.start();
    natsMeter?.start();
    await waitUntil(windowEnd);
    windowMonotonicUs.toMonotonicUs = monotonicUs();
    const others = noise.stop();
    const cpu = meter.stop();
    const redisCpu = redisMeter?.stop();
    const natsCpu = natsMeter?.stop();
    const mem = memoryMiB(running.pid);
    // Just before the first fire after the window (a few of the window's last fires may still be
    // queued in a backlog: those count in the next scrape only when they start, as they should not).
    await waitUntil(windowEnd + 300);
    const metricsAfter = await running.scrapeMetrics?.().catch(() => undefined);

    // Late messages of the window still count: wait until they stop coming (bounded).
    const drainDeadline = Date.now() + opts.drainMaxMs;
    await sleep(2_000);
    collector.catchUp();
    while (Date.now() < drainDeadline && nowMs() - collector.lastInWindowAt < 1_500 && collector.tally().received < collector.tally().expected) {
      await sleep(250);
      collector.catchUp();
    }
    const tally = collector.tally();
    const subscriberErrors = collector.errors.slice();
    stopInfo = await running.stop();
    await collector.unsubscribe();
    if (subscriberErrors.length > 0) throw new Error(`the subscriber saw errors, the run is not to be trusted: ${subscriberErrors.join('; ')}`);

    let profile: FireResult['profile'];
    if (running.profileDir !== undefined) {
      const path = newestProfile(running.profileDir);
      // The window only: the child's start-up, creates and drain would dilute it.
      if (path !== undefined) profile = { path, ...hotFunctions(path, 30, windowMonotonicUs) };
    }
    const result: FireResult = {
      system,
      driver: running.driver,
      tasks,
      seconds: opts.seconds,
      ...tally,
      outOfWindow: collector.outOfWindow,
      lateness: collector.lateness.summary(),
      cpuPercent: cpu?.percent,
      redisCpuPercent: redisCpu?.percent,
      natsCpuPercent: natsCpu?.percent,
      otherCpuPercent: others.otherPercent,
      rssMiB: mem?.rss,
      setupMs: running.setupMs,
      setupNote: running.setupNote,
      codeStamp: running.codeStamp,
      peerStats: stopInfo,
      profile,
      engineLateness: metricsBefore !== undefined && metricsAfter !== undefined ? engineLatenessOf(metricsBefore.buckets, metricsAfter.buckets) : undefined,
      writerBusyPercent: metricsBefore !== undefined && metricsAfter !== undefined ? writerBusyPercent(metricsBefore, metricsAfter) : undefined,
      outboxAtEnd: metricsAfter?.outboxEvents,
    };
    log(`fire-precision: ${system}: p50 ${fmt(result.lateness.p50)} ms, p99 ${fmt(result.lateness.p99)} ms, max ${fmt(result.lateness.max)} ms, missed ${result.missed}, doubled ${result.doubled}, cpu ${fmt(result.cpuPercent)}%`
      + (result.writerBusyPercent === undefined ? '' : ` (writer thread ${fmt(result.writerBusyPercent)}%)`)
      + (result.outboxAtEnd === undefined ? '' : `, ${fmt(result.outboxAtEnd)} events waiting for NATS`)
      + (result.engineLateness === undefined ? '' : `; in-engine p50 <= ${result.engineLateness.p50AtMostMs} ms, p99 <= ${result.engineLateness.p99AtMostMs} ms, ${fmt(result.engineLateness.within10msPercent)}% within 10 ms`));
    return result;
  } finally {
    if (stopInfo === undefined) await running.stop().catch(() => undefined);
    await collector.unsubscribe();
  }
}

export function fireTable(results: FireResult[]): string {
  return formatTable(
    ['system', 'tasks', 'fires expected', 'received', 'p50 ms', 'p99 ms', 'max ms', 'missed', 'doubled', 'CPU %', 'of it writer %', '+redis CPU %', 'RSS MiB', 'others CPU %', 'in-engine p99 ms', 'events waiting'],
    results.map((r) => [
      r.system,
      fmt(r.tasks),
      fmt(r.expected),
      fmt(r.received),
      fmt(r.lateness.p50),
      fmt(r.lateness.p99),
      fmt(r.lateness.max),
      fmt(r.missed),
      fmt(r.doubled),
      fmt(r.cpuPercent),
      r.writerBusyPercent === undefined ? '' : fmt(r.writerBusyPercent),
      r.redisCpuPercent === undefined ? '' : fmt(r.redisCpuPercent),
      fmt(r.rssMiB),
      fmt(r.otherCpuPercent),
      r.engineLateness === undefined ? '' : `<= ${r.engineLateness.p99AtMostMs}`,
      r.outboxAtEnd === undefined ? '' : fmt(r.outboxAtEnd),
    ]),
  );
}

export async function runFirePrecision(base: Omit<FireOptions, 'tasks'>, taskCounts: number[]): Promise<FireResult[]> {
  const results: FireResult[] = [];
  for (const tasks of taskCounts) {
    for (const system of base.systems) {
      try {
        results.push(await measureSystem(system, { ...base, tasks }));
      } catch (err) {
        log(`fire-precision: ${system} with ${tasks} tasks failed: ${err instanceof Error ? err.message : String(err)}`);
      }
      await sleep(2_000); // let the machine settle between systems
    }
  }
  return results;
}

async function main(): Promise<void> {
  const args = new Args();
  const options: Omit<FireOptions, 'tasks'> = {
    seconds: args.number('seconds', 60),
    warmupSeconds: args.number('warmup', 5),
    systems: args.list('systems', [...SYSTEMS, FLOOR, FLOOR_WIRE]),
    cpuProf: args.flag('cpu-prof'),
    bullmqConcurrency: args.number('bullmq-concurrency', 100),
    drainMaxMs: args.number('drain-max-ms', 30_000),
    createRate: args.number('create-rate', 150),
    serviceNodeArgs: args.list('service-node-args', []),
  };
  const taskCounts = args.numbers('tasks', [1000, 10000]);
  const results = await runFirePrecision(options, taskCounts);
  const path = writeResult(args.string('out', 'fire-precision'), { options: { ...options, taskCounts }, results });
  process.stdout.write(`\nFire precision (lateness = NATS receive - scheduled time, ${options.seconds} s window)\n${fireTable(results)}\n`);
  for (const r of results) {
    if (r.profile === undefined) continue;
    process.stdout.write(`\ncronplane ${r.tasks} tasks: CPU profile of the window, ${r.profile.path} (idle ${fmt(r.profile.idlePercent)}%, GC ${fmt(r.profile.gcPercent)}%)\n`);
    process.stdout.write(`${formatTable(['function', 'location', 'self %', 'total %'], r.profile.functions.slice(0, 20).map((f) => [f.function, f.location, fmt(f.selfPercent), fmt(f.totalPercent)]))}\n`);
  }
  process.stdout.write(`\nwrote ${path}\n`);
}

if (isMain(import.meta.url)) {
  main().then(() => process.exit(0), (err) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
