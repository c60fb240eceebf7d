import { mkdirSync, mkdtempSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Args, isMain } from './lib/args.js';
import { SERVICE_NODE_FLAGS } from '../src/cli/service-node-flags.js';
import { BENCH_DIST, REPO_ROOT, report, spawnNode } from './lib/children.js';
import { createPerSecondTasks, startFakeClockService } from './lib/fake-clock-service.js';
import { AllocationSampler, type Allocator } from './lib/allocation-profile.js';
import { hotFunctions, monotonicUs, newestProfile } from './lib/profile.js';
import { formatTable, log, RESULTS_DIR, writeResult } from './lib/results.js';
import { metric } from './lib/service-metrics.js';
import { fmt, summarize } from './lib/stats.js';

/**
 * The event loop's work per fire, without the noise of real time: the whole service in this
 * process (`startService` with a FakeClock: SQLite on its writer thread, real NATS for actions
 * and events), N per-second nats_publish tasks, the clock driven a tenth of a second at a time
 * and each step waited out (every claim, start, action flush and final write settled). The
 * figure is the main thread's busy time (event-loop utilisation) per fire over S simulated
 * seconds, outbox drain included; the writer thread's from its own counter.
 *
 * Each round is a process of its own (with the service's Node flags), JIT warm-up included, so
 * rounds compare fairly. With --compare <dist dir of another build> both builds run, in
 * alternating rounds: what a change saves shows within one run, on the same machine state.
 * Lateness is not measured here (fire-precision does that under real time).
 *
 * --cpu-prof profiles each round's process and prints the driven seconds' hottest functions;
 * --alloc-prof instead samples what those seconds allocate (collected objects included: the
 * garbage that GC time is spent on) and prints the allocating functions: the main thread's
 * only (not the writer thread's), this harness's own included (its /metrics polls while the
 * outbox drains), and the round's figures are then slowed by the sampler.
 */

interface Build {
  label: string;
  dist: string;
}

interface Round {
  build: string;
  fires: number;
  mainUsPerFire: number;
  writerUsPerFire: number | undefined;
  /** The events publisher thread's (SQLite: a thread of its own; absent in builds before it). */
  publisherUsPerFire?: number | undefined;
  /** The driven seconds on the monotonic clock (µs), for a profile of them only. */
  window: { fromMonotonicUs: number; toMonotonicUs: number };
  /** With --alloc-prof: what allocated the driven seconds' bytes. */
  allocators?: Allocator[];
}

const T0 = Date.UTC(2030, 0, 1, 0, 0, 0);
const STEP_MS = 100;
const WRITER_BUSY = 'cronplane_store_writer_busy_seconds_total';
const PUBLISHER_BUSY = 'cronplane_events_publisher_busy_seconds_total';

/** A thread's busy µs per fire between two readings of its counter. */
function usPerFire(before: number | undefined, after: number | undefined, fires: number): number | undefined {
  return before === undefined || after === undefined ? undefined : ((after - before) * 1e6) / fires;
}

/** One round: a fresh service of `build` with `tasks` tasks, driven for `seconds` simulated seconds. */
/** `allocProfile`: sample allocations over the driven seconds into this .heapprofile. */
async function runRound(build: Build, tasks: number, seconds: number, allocProfile?: string): Promise<Round> {
  const running = await startFakeClockService(build.dist, T0, 'fire-path');
  const { service, clock } = running;
  try {
    const start = T0 + 2_000;
    await createPerSecondTasks(running.client, tasks, 'fp', `cpbench.firepath.${process.pid}`, start);
    await clock.advanceTo(start - 1_000);
    await service.engine.idle();
    global.gc?.();
    const writerBefore = await metric(service.httpPort, WRITER_BUSY);
    const publisherBefore = await metric(service.httpPort, PUBLISHER_BUSY);
    const sampler = allocProfile === undefined ? undefined : new AllocationSampler();
    await sampler?.start();
    const fromMonotonicUs = monotonicUs();
    const elu = performance.eventLoopUtilization();
    // Every occurrence from `start` up to and including the last second: `seconds` fires per task.
    for (let at = start - 1_000 + STEP_MS; at <= start + (seconds - 1) * 1_000; at += STEP_MS) {
      await clock.advanceTo(at);
      await service.engine.idle();
    }
    // The events of the last fires still leave through the outbox: that is fire work too.
    while (((await metric(service.httpPort, 'cronplane_outbox_events')) ?? 0) > 0) await new Promise((r) => setTimeout(r, 20));
    const busy = performance.eventLoopUtilization(elu);
    const toMonotonicUs = monotonicUs();
    const allocators = sampler === undefined ? undefined : await sampler.stop(allocProfile!);
    const writerAfter = await metric(service.httpPort, WRITER_BUSY);
    const publisherAfter = await metric(service.httpPort, PUBLISHER_BUSY);
    const fires = tasks * seconds;
    return {
      build: build.label,
      fires,
      mainUsPerFire: (busy.active * 1_000) / fires,
      writerUsPerFire: usPerFire(writerBefore, writerAfter, fires),
      publisherUsPerFire: usPerFire(publisherBefore, publisherAfter, fires),
      window: { fromMonotonicUs, toMonotonicUs },
      ...(allocators === undefined ? {} : { allocators }),
    };
  } finally {
    await running.close();
  }
}

/** One round in a child process of its own (`--child`). */
async function roundInChild(build: Build, tasks: number, seconds: number, profileDir: string | undefined, nodeArgs: string[], allocProf: boolean): Promise<Round> {
  const allocProfile = allocProf && profileDir !== undefined ? join(profileDir, 'allocations.heapprofile') : undefined;
  const child = spawnNode(join(BENCH_DIST, 'fire-path.js'), ['--child', '--dist', build.dist, '--label', build.label, '--tasks', String(tasks), '--seconds', String(seconds), ...(allocProfile === undefined ? [] : ['--alloc-profile', allocProfile])], {
    nodeArgs: [...SERVICE_NODE_FLAGS, ...nodeArgs, '--expose-gc', ...(profileDir === undefined || allocProf ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`])],
    name: `fire-path ${build.label}`,
  });
  let round: Round;
  try {
    round = await child.waitForJson<Round>((v) => v['done'] === true, 600_000, 'fire-path round');
  } finally {
    // A profile is written at a normal exit only.
    await child.stop(profileDir === undefined ? 'SIGKILL' : 'SIGTERM', 15_000);
  }
  if (round.allocators !== undefined) {
    log(`fire-path: ${build.label}: allocations of the driven seconds, by allocating function: ${allocProfile}`);
    process.stdout.write(`${formatTable(['function', 'location', 'bytes %'], round.allocators.map((a) => [a.function, a.location, fmt(a.percent)]))}\n`);
  }
  const profile = profileDir === undefined ? undefined : newestProfile(profileDir);
  if (profile !== undefined) {
    const hot = hotFunctions(profile, 25, round.window);
    log(`fire-path: ${build.label}: profile of the driven seconds ${profile} (idle ${fmt(hot.idlePercent)}%, GC ${fmt(hot.gcPercent)}%)`);
    process.stdout.write(`${formatTable(['function', 'location', 'self %', 'total %'], hot.functions.map((f) => [f.function, f.location, fmt(f.selfPercent), fmt(f.totalPercent)]))}\n`);
  }
  return round;
}

export async function runFirePath(
  builds: Build[],
  options: {
    tasks: number;
    seconds: number;
    rounds: number;
    cpuProf?: boolean;
    /** Sample allocations instead of CPU (a CPU profile would be skewed by the sampler). */
    allocProf?: boolean;
    /** After the service's own flags (a GC setting to try, say). */
    nodeArgs?: string[];
  },
): Promise<Round[]> {
  const rounds: Round[] = [];
  // A fresh clone has no profiles folder yet (bench/results holds only what is committed).
  const profiled = options.cpuProf === true || options.allocProf === true;
  if (profiled) mkdirSync(join(RESULTS_DIR, 'profiles'), { recursive: true });
  for (let r = 0; r < options.rounds; r++) {
    // Alternate which build goes first, so neither always runs right after the other.
    const order = r % 2 === 0 ? builds : [...builds].reverse();
    for (const build of order) {
      const profileDir = profiled ? mkdtempSync(join(RESULTS_DIR, 'profiles', 'fire-path-')) : undefined;
      const round = await roundInChild(build, options.tasks, options.seconds, profileDir, options.nodeArgs ?? [], options.allocProf === true);
      log(`fire-path: ${build.label} round ${r + 1}: ${fmt(round.mainUsPerFire)} us per fire on the event loop, ${fmt(round.writerUsPerFire)} on the writer thread, ${fmt(round.publisherUsPerFire)} on the publisher thread`);
      rounds.push(round);
    }
  }
  return rounds;
}

function table(builds: Build[], rounds: Round[]): string {
  return formatTable(
    ['build', 'rounds', 'event loop us/fire (each round)', 'median', 'writer us/fire median', 'publisher us/fire median'],
    builds.map((b) => {
      const mine = rounds.filter((r) => r.build === b.label);
      const main = mine.map((r) => r.mainUsPerFire);
      const writer = mine.map((r) => r.writerUsPerFire ?? NaN);
      const publisher = mine.map((r) => r.publisherUsPerFire ?? NaN);
      return [b.label, String(mine.length), main.map((v) => fmt(v)).join(' / '), fmt(summarize(main).p50), fmt(summarize(writer).p50), fmt(summarize(publisher).p50)];
    }),
  );
}

async function main(): Promise<void> {
  const args = new Args();
  if (args.flag('child')) {
    const allocProfile = args.string('alloc-profile', '');
    const round = await runRound({ label: args.string('label', ''), dist: args.string('dist', '') }, args.number('tasks', 2_000), args.number('seconds', 10), allocProfile === '' ? undefined : allocProfile);
    report({ done: true, ...round });
    // Stay until the parent stops this process (a SIGTERM lets --cpu-prof write its profile).
    process.once('SIGTERM', () => process.exit(0));
    setInterval(() => undefined, 60_000);
    return new Promise(() => undefined);
  }
  const options = { tasks: args.number('tasks', 2_000), seconds: args.number('seconds', 10), rounds: args.number('rounds', 3), cpuProf: args.flag('cpu-prof'), allocProf: args.flag('alloc-prof'), nodeArgs: args.list('node-args', []) };
  const builds: Build[] = [{ label: 'this build', dist: resolve(REPO_ROOT, 'dist') }];
  const other = args.string('compare', '');
  if (other !== '') builds.push({ label: `compare (${other})`, dist: resolve(other) });
  const rounds = await runFirePath(builds, options);
  const path = writeResult(args.string('out', 'fire-path'), { options, builds, rounds });
  process.stdout.write(`\nEvent loop per fire (${options.tasks} per-second tasks, ${options.seconds} simulated s, FakeClock)\n${table(builds, rounds)}\n\nwrote ${path}\n`);
}

if (isMain(import.meta.url)) {
  main().then(() => process.exit(0), (err) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
