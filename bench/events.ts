import { join } from 'node:path';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { NatsConnection } from '@nats-io/transport-node';
import { connect } from '@nats-io/transport-node';
import { Args, isMain } from './lib/args.js';
import { BENCH_DIST, freePort, sleep, spawnNode, type Child } from './lib/children.js';
import { runLoad } from './lib/load.js';
import { NoiseMeter, waitForQuiet } from './lib/machine.js';
import { connectNats, nowMs } from './lib/nats.js';
import { startNatsServer } from './lib/nats-server.js';
import { CpuMeter } from './lib/proc.js';
import { RawSchedulerClient } from './lib/raw-client.js';
import { formatTable, log, writeResult } from './lib/results.js';
import { metric } from './lib/service-metrics.js';
import { CronplaneProcess } from './lib/service-process.js';
import { fmt, type Summary } from './lib/stats.js';
import { publishTask } from './lib/task-specs.js';

/**
 * Events: (1) outbox -> NATS drain rate: the service starts with its NATS server away, a burst
 * of RunTask fills the outbox, then a private nats-server appears on that port and we time the
 * backlog arriving on `<prefix>.executions.>`. (2) Steady state: T per-second tasks, events/s
 * on NATS without and with 100 WatchExecutions streams, and what the streams receive.
 */

export interface EventsOptions {
  /** RunTask calls for the backlog (3 events each: PENDING, RUNNING, FAILED). */
  backlogRuns: number;
  steadyTasks: number;
  steadySeconds: number;
  watchers: number;
  /** Which scenarios to run: 'drain', 'steady' (no watchers), 'watch' (with `watchers`). Default all. */
  only?: string[];
  /** The watchers' client: 'grpc' (grpc-js, default) or 'http2' (counts frames; far cheaper). */
  watchClient?: string;
}

export interface DrainResult {
  runs: number;
  runTaskPerSec: number;
  outboxBefore: number;
  received: number;
  drainMs: number;
  eventsPerSec: number;
  cpuPercent: number | undefined;
  otherCpuPercent: number;
  codeStamp: string;
}

export interface SteadyResult {
  watchers: number;
  watchClient: string | undefined;
  tasks: number;
  seconds: number;
  natsEventsPerSec: number;
  watchEventsPerSec: number | undefined;
  watchPerClientMin: number | undefined;
  watchPerClientMax: number | undefined;
  watchEnded: Record<string, number> | undefined;
  watchLag: Summary | undefined;
  cpuPercent: number | undefined;
  otherCpuPercent: number;
  codeStamp: string;
}

/** Counts messages on `<prefix>.executions.>` and when they came. */
class EventCounter {
  count = 0;
  first = 0;
  last = 0;
  constructor(nc: NatsConnection, prefix: string) {
    nc.subscribe(`${prefix}.executions.>`, {
      callback: () => {
        const t = nowMs();
        if (this.count === 0) this.first = t;
        this.last = t;
        this.count++;
      },
    });
  }
}

export async function measureDrain(opts: EventsOptions): Promise<DrainResult> {
  await waitForQuiet('events drain');
  const natsPort = await freePort();
  const service = new CronplaneProcess({ logLevel: 'warn', natsUrl: `nats://127.0.0.1:${natsPort}` });
  await service.start();
  const raw = new RawSchedulerClient(service.address);
  let nats: Child | undefined;
  let nc: NatsConnection | undefined;
  try {
    const names = Array.from({ length: 100 }, (_, i) => `ev-${i}`);
    for (const name of names) {
      await service.client.createTask({ task: { ...publishTask(name, '0 * * * *', 'cpbench.events.fire'), startTime: timestampFromMs(Date.now() + 86_400_000) } });
    }
    const requests = names.map((name) => RawSchedulerClient.encode('runTask', { name }));
    log(`events: ${opts.backlogRuns} RunTask with NATS away (each fails fast: 3 events)`);
    const runs = await runLoad((i) => raw.call('runTask', requests[i % requests.length]!), { concurrency: 64, maxOps: opts.backlogRuns, maxMs: 600_000 });
    // Let the last executions finish; the outbox then holds every event.
    let outbox = 0;
    for (let i = 0; i < 60; i++) {
      await sleep(500);
      const n = (await metric(service.httpPort, 'cronplane_outbox_events')) ?? 0;
      if (n === outbox && n >= runs.ops * 3) break;
      outbox = n;
    }
    outbox = (await metric(service.httpPort, 'cronplane_outbox_events')) ?? outbox;
    log(`events: outbox holds ${outbox} events; starting nats-server on ${natsPort}`);
    await waitForQuiet('events drain', 60_000);

    nats = await startNatsServer(natsPort);
    nc = await connect({ servers: `nats://127.0.0.1:${natsPort}`, name: 'cpbench-events' });
    const counter = new EventCounter(nc, service.prefix);
    await nc.flush();
    const meter = new CpuMeter(service.pid);
    const noise = new NoiseMeter();
    noise.start([service.pid, nats.pid]);
    meter.start();
    const deadline = Date.now() + 300_000;
    while (Date.now() < deadline && (counter.count < outbox || counter.count === 0)) {
      await sleep(100);
      // Done when all arrived, or nothing more for a second (the gauge may count a few extra).
      if (counter.count > 0 && nowMs() - counter.last > 1_000) break;
    }
    const cpu = meter.stop();
    const others = noise.stop();
    const drainMs = counter.last - counter.first;
    const result: DrainResult = {
      runs: runs.ops,
      runTaskPerSec: runs.opsPerSec,
      outboxBefore: outbox,
      received: counter.count,
      drainMs,
      eventsPerSec: drainMs > 0 ? ((counter.count - 1) / drainMs) * 1000 : NaN,
      cpuPercent: cpu?.percent,
      otherCpuPercent: others.otherPercent,
      codeStamp: service.codeStamp,
    };
    log(`events: drained ${counter.count} of ${outbox} in ${fmt(drainMs)} ms: ${fmt(result.eventsPerSec)} events/s`);
    return result;
  } finally {
    raw.close();
    await nc?.close().catch(() => undefined);
    await service.stop();
    await service.dispose();
    await nats?.stop('SIGKILL');
  }
}

export async function measureSteady(opts: EventsOptions, watchers: number): Promise<SteadyResult> {
  await waitForQuiet(`events steady (${watchers} watchers)`);
  const service = new CronplaneProcess({ logLevel: 'warn' });
  await service.start();
  let nc: NatsConnection | undefined;
  let watch: Child | undefined;
  try {
    nc = await connectNats('cpbench-events-steady');
    // The actions publish where nobody listens: the events are what we count.
    await runLoad((i) => service.client.createTask({ task: publishTask(`st-${i}`, '* * * * * *', `cpbench.events.${process.pid}.nobody`) }), {
      concurrency: 64,
      maxOps: opts.steadyTasks,
      maxMs: 300_000,
    });
    if (watchers > 0) {
      watch = spawnNode(join(BENCH_DIST, 'events-watch-child.js'), ['--address', service.address, '--clients', String(watchers), '--client', opts.watchClient ?? 'grpc'], { name: 'watchers', stdin: true });
      await watch.waitForJson((v) => v['ready'] === true, 30_000, 'watchers ready');
    }
    const counter = new EventCounter(nc, service.prefix);
    await sleep(3_000); // warm-up
    const c0 = counter.count;
    const meter = new CpuMeter(service.pid);
    const noise = new NoiseMeter();
    noise.start([service.pid, ...(watch !== undefined ? [watch.pid] : [])]);
    meter.start();
    watch?.process.stdin?.write('start\n');
    const t0 = nowMs();
    await sleep(opts.steadySeconds * 1000);
    const elapsed = nowMs() - t0;
    const natsCount = counter.count - c0;
    watch?.process.stdin?.write('stop\n');
    const cpu = meter.stop();
    const others = noise.stop();
    const w = watch === undefined ? undefined : await watch.waitForJson<{ total: number; perClientMin: number; perClientMax: number; ended: Record<string, number>; lag: Summary }>((v) => v['done'] === true, 30_000, 'watchers done');
    const result: SteadyResult = {
      watchers,
      watchClient: watchers > 0 ? (opts.watchClient ?? 'grpc') : undefined,
      tasks: opts.steadyTasks,
      seconds: opts.steadySeconds,
      natsEventsPerSec: (natsCount / elapsed) * 1000,
      watchEventsPerSec: w === undefined ? undefined : (w.total / elapsed) * 1000,
      watchPerClientMin: w === undefined ? undefined : (w.perClientMin / elapsed) * 1000,
      watchPerClientMax: w === undefined ? undefined : (w.perClientMax / elapsed) * 1000,
      watchEnded: w?.ended,
      watchLag: w?.lag,
      cpuPercent: cpu?.percent,
      otherCpuPercent: others.otherPercent,
      codeStamp: service.codeStamp,
    };
    log(`events: steady ${opts.steadyTasks} per-second tasks, ${watchers} watchers: ${fmt(result.natsEventsPerSec)} events/s on NATS` +
      (w === undefined ? '' : `, ${fmt(result.watchEventsPerSec)} deliveries/s to watchers (per client ${fmt(result.watchPerClientMin)}..${fmt(result.watchPerClientMax)}/s, ended ${JSON.stringify(w.ended)})`));
    return result;
  } finally {
    await watch?.stop('SIGKILL', 5_000);
    await nc?.close().catch(() => undefined);
    await service.stop();
    await service.dispose();
  }
}

export function eventsTable(drain: DrainResult | undefined, steady: SteadyResult[]): string {
  const rows: string[][] = [];
  if (drain !== undefined) {
    rows.push(['outbox backlog -> NATS', fmt(drain.outboxBefore), fmt(drain.eventsPerSec), '', '', '', fmt(drain.cpuPercent), fmt(drain.otherCpuPercent)]);
  }
  for (const s of steady) {
    rows.push([
      `${s.tasks} per-second tasks, ${s.watchers} watchers`,
      `${fmt(s.tasks * 3)}/s offered`,
      fmt(s.natsEventsPerSec),
      s.watchEventsPerSec === undefined ? '' : fmt(s.watchEventsPerSec),
      s.watchPerClientMin === undefined ? '' : `${fmt(s.watchPerClientMin)}..${fmt(s.watchPerClientMax)}`,
      s.watchLag === undefined ? '' : fmt(s.watchLag.p99),
      fmt(s.cpuPercent),
      fmt(s.otherCpuPercent),
    ]);
  }
  return formatTable(['scenario', 'events', 'to NATS /s', 'to watchers /s (sum)', 'per watcher /s', 'watch lag p99 ms', 'CPU %', 'others CPU %'], rows);
}

export async function runEvents(opts: EventsOptions): Promise<{ drain: DrainResult | undefined; steady: SteadyResult[] }> {
  const only = new Set(opts.only ?? ['drain', 'steady', 'watch']);
  let drain: DrainResult | undefined;
  if (only.has('drain')) {
    try {
      drain = await measureDrain(opts);
    } catch (err) {
      log(`events: drain failed: ${err instanceof Error ? err.stack : String(err)}`);
    }
  }
  const steady: SteadyResult[] = [];
  const watcherCounts = [...(only.has('steady') ? [0] : []), ...(only.has('watch') ? [opts.watchers] : [])];
  for (const watchers of watcherCounts) {
    try {
      steady.push(await measureSteady(opts, watchers));
    } catch (err) {
      log(`events: steady with ${watchers} watchers failed: ${err instanceof Error ? err.stack : String(err)}`);
    }
  }
  return { drain, steady };
}

async function main(): Promise<void> {
  const args = new Args();
  const opts: EventsOptions = {
    backlogRuns: args.number('backlog-runs', 30_000),
    steadyTasks: args.number('steady-tasks', 1000),
    steadySeconds: args.number('seconds', 20),
    watchers: args.number('watchers', 100),
    only: args.list('only', ['drain', 'steady', 'watch']),
    watchClient: args.string('watch-client', 'grpc'),
  };
  const out = await runEvents(opts);
  const path = writeResult(args.string('out', 'events'), { options: opts, ...out });
  process.stdout.write(`\nEvents (engine -> outbox -> NATS; WatchExecutions fan-out)\n${eventsTable(out.drain, out.steady)}\n\nwrote ${path}\n`);
}

if (isMain(import.meta.url)) {
  main().then(() => process.exit(0), (err) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
