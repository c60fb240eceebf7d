import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SERVICE_NODE_FLAGS } from '../src/cli/service-node-flags.js';
import { Args, isMain } from './lib/args.js';
import { BENCH_DIST, REPO_ROOT, report, spawnNode } from './lib/children.js';
import { createPerSecondTasks, startFakeClockService } from './lib/fake-clock-service.js';
import { formatTable, log, writeResult } from './lib/results.js';
import { fmt, summarize } from './lib/stats.js';

/**
 * The engine's side of a burst: N per-second nats_publish tasks all due at the same instant, the
 * whole service in this process on a FakeClock (SQLite on its threads, real NATS), and for each
 * second the time from the clock reaching the instant to each action's NATS publish (nats.js's
 * `publish` on the actions' subject, timed where it is called; the network and the subscriber,
 * which fire-precision includes, are not). What it shows is how long the last of N due at once
 * waits for the event loop: at 10k it is most of fire-precision's lateness.
 *
 * The first two seconds warm up (JIT); each round is a child process with the service's Node
 * flags. --compare <dist dir of another build> alternates the two builds' rounds.
 */

interface Build {
  label: string;
  dist: string;
}

interface Second {
  /** Milliseconds from the instant to the first, median, 99th and last publish. */
  first: number;
  p50: number;
  p99: number;
  last: number;
  /** Until every execution of the instant was stored and its bookkeeping done. */
  settled: number;
}

interface Round {
  build: string;
  seconds: Second[];
}

const T0 = Date.UTC(2030, 0, 1, 0, 0, 0);
const WARM_UP_SECONDS = 2;

/** Time each publish on `subject` (nats.js's connection class is shared by every build: one node_modules). */
function timePublishes(subject: string): { marks: number[] } {
  const require = createRequire(join(REPO_ROOT, 'package.json'));
  const nats = require(join(REPO_ROOT, 'node_modules/@nats-io/nats-core/lib/nats.js')) as {
    NatsConnectionImpl: { prototype: { publish: (subject: string, ...rest: unknown[]) => void } };
  };
  const timing = { marks: [] as number[] };
  const publish = nats.NatsConnectionImpl.prototype.publish;
  nats.NatsConnectionImpl.prototype.publish = function (this: unknown, s: string, ...rest: unknown[]) {
    if (s === subject) timing.marks.push(performance.now());
    return publish.call(this, s, ...rest);
  };
  return timing;
}

async function runRound(build: Build, tasks: number, seconds: number): Promise<Round> {
  const subject = `cpbench.burst.${process.pid}`;
  const timing = timePublishes(subject);
  const running = await startFakeClockService(build.dist, T0, 'fire-burst');
  const { service, clock } = running;
  try {
    const start = T0 + 2_000;
    await createPerSecondTasks(running.client, tasks, 'fb', subject, start);
    const measured: Second[] = [];
    for (let s = 0; s < seconds; s++) {
      const at = start + s * 1_000;
      // Claimed ahead (500 ms before), the previous second's work done, a quiet moment.
      await clock.advanceTo(at - 400);
      await service.engine.idle();
      await new Promise((r) => setTimeout(r, 200));
      global.gc?.();
      timing.marks.length = 0;
      const t0 = performance.now();
      await clock.advanceTo(at);
      await service.engine.idle();
      const settled = performance.now() - t0;
      if (timing.marks.length !== tasks) throw new Error(`second ${s}: ${timing.marks.length} publishes, expected ${tasks}`);
      const since = summarize(timing.marks.map((m) => m - t0));
      if (s >= WARM_UP_SECONDS) measured.push({ first: since.min, p50: since.p50, p99: since.p99, last: since.max, settled });
    }
    return { build: build.label, seconds: measured };
  } finally {
    await running.close();
  }
}

async function roundInChild(build: Build, tasks: number, seconds: number): Promise<Round> {
  const child = spawnNode(join(BENCH_DIST, 'fire-burst.js'), ['--child', '--dist', build.dist, '--label', build.label, '--tasks', String(tasks), '--seconds', String(seconds)], {
    nodeArgs: [...SERVICE_NODE_FLAGS, '--expose-gc'],
    name: `fire-burst ${build.label}`,
  });
  try {
    return await child.waitForJson<Round>((v) => v['done'] === true, 600_000, 'fire-burst round');
  } finally {
    await child.stop('SIGKILL', 5_000);
  }
}

function median(rounds: Round[], pick: (s: Second) => number): string {
  return fmt(summarize(rounds.flatMap((r) => r.seconds.map(pick))).p50);
}

async function main(): Promise<void> {
  const args = new Args();
  if (args.flag('child')) {
    const round = await runRound({ label: args.string('label', ''), dist: args.string('dist', '') }, args.number('tasks', 10_000), args.number('seconds', 6));
    report({ done: true, ...round });
    return new Promise(() => undefined); // the parent stops this process
  }
  const options = { tasks: args.number('tasks', 10_000), seconds: args.number('seconds', 6), rounds: args.number('rounds', 2) };
  const builds: Build[] = [{ label: 'this build', dist: resolve(REPO_ROOT, 'dist') }];
  const other = args.string('compare', '');
  if (other !== '') builds.push({ label: `compare (${other})`, dist: resolve(other) });
  const rounds: Round[] = [];
  for (let r = 0; r < options.rounds; r++) {
    for (const build of r % 2 === 0 ? builds : [...builds].reverse()) {
      const round = await roundInChild(build, options.tasks, options.seconds);
      log(`fire-burst: ${build.label} round ${r + 1}: last publish ${round.seconds.map((s) => fmt(s.last)).join(' / ')} ms after the instant`);
      rounds.push(round);
    }
  }
  const path = writeResult(args.string('out', 'fire-burst'), { options, builds, rounds });
  const rows = builds.map((b) => {
    const mine = rounds.filter((r) => r.build === b.label);
    return [b.label, String(mine.reduce((n, r) => n + r.seconds.length, 0)), ...[(s: Second) => s.first, (s: Second) => s.p50, (s: Second) => s.p99, (s: Second) => s.last, (s: Second) => s.settled].map((pick) => median(mine, pick))];
  });
  process.stdout.write(`\n${options.tasks} per-second tasks due at one instant (FakeClock): ms from the instant to the actions' publishes (medians over the measured seconds)\n`);
  process.stdout.write(`${formatTable(['build', 'seconds', 'first', 'p50', 'p99', 'last', 'all settled'], rows)}\n\nwrote ${path}\n`);
}

if (isMain(import.meta.url)) {
  main().then(() => process.exit(0), (err) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
