import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { toBinary } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { CreateTaskResponseSchema, GetTaskResponseSchema, ListTasksResponseSchema } from '../src/gen/cronplane/v1/scheduler_service_pb.js';
import { Args, isMain } from './lib/args.js';
import { BENCH_DIST, sleep, spawnNode } from './lib/children.js';
import { runLoad, type LoadResult } from './lib/load.js';
import { RawSchedulerClient } from './lib/raw-client.js';
import { NoiseMeter, waitForQuiet } from './lib/machine.js';
import { CpuMeter } from './lib/proc.js';
import { formatTable, log, writeResult } from './lib/results.js';
import { CronplaneProcess } from './lib/service-process.js';
import { fmt, round } from './lib/stats.js';
import { publishTask, type TaskInit } from './lib/task-specs.js';

/**
 * Control-plane RPC: CreateTask, GetTask and ListTasks (page of 50) throughput and latency at
 * concurrency 1 and 64 against `cronplane serve` and, in the same run, against a bare grpc-js
 * server with the same service definition, codecs and response sizes. The ratio is the figure.
 */

export interface RpcOptions {
  seconds: number;
  concurrencies: number[];
  /** Tasks present before measuring (GetTask picks among them, ListTasks pages them). */
  preload: number;
  /** Also measure an echo server that answers the canned bytes without encoding them (the transport alone). */
  bytesEcho?: boolean;
}

export interface RpcRow {
  method: string;
  concurrency: number;
  cronplane: LoadResult & { cpuPercent?: number; otherCpuPercent: number };
  echo: LoadResult & { cpuPercent?: number; otherCpuPercent: number };
  ratio: number;
  /** With bytesEcho: the echo that answers pre-encoded bytes, and cronplane's ratio to it. */
  bytesEcho?: LoadResult & { cpuPercent?: number; otherCpuPercent: number };
  bytesRatio?: number;
  codeStamp: string;
}

const SUBJECT = 'cpbench.rpc.fire';

export async function runRpc(opts: RpcOptions): Promise<RpcRow[]> {
  const service = new CronplaneProcess({ logLevel: 'warn' });
  await service.start();
  const startTime = Date.now() + 86_400_000;
  let seq = 0;
  // Hourly, not firing during the run (start_time tomorrow): the control plane alone is measured.
  const newTask = (prefix: string): TaskInit => ({
    ...publishTask(`${prefix}-${seq++}`, '0 * * * *', SUBJECT, '', { team: 'bench' }),
    startTime: timestampFromMs(startTime),
  });
  let echo: ReturnType<typeof spawnNode> | undefined;
  let echoClient: RawSchedulerClient | undefined;
  let bytesEcho: ReturnType<typeof spawnNode> | undefined;
  let bytesEchoClient: RawSchedulerClient | undefined;
  const cpClient = new RawSchedulerClient(service.address);
  try {
    log(`rpc: preloading ${opts.preload} tasks`);
    await runLoad(() => service.client.createTask({ task: newTask('pre') }), { concurrency: 64, maxOps: opts.preload, maxMs: 300_000 });

    // Canned responses of the same size as cronplane's, for the echo server.
    const created = await service.client.createTask({ task: newTask('canned') });
    const got = await service.client.getTask({ name: 'pre-1' });
    const listed = await service.client.listTasks({ pageSize: 50 });
    const cannedPath = join(service.dir, 'canned.json');
    writeFileSync(cannedPath, JSON.stringify({
      createTask: Buffer.from(toBinary(CreateTaskResponseSchema, created)).toString('base64'),
      getTask: Buffer.from(toBinary(GetTaskResponseSchema, got)).toString('base64'),
      listTasks: Buffer.from(toBinary(ListTasksResponseSchema, listed)).toString('base64'),
    }));
    log(`rpc: response sizes: CreateTask ${toBinary(CreateTaskResponseSchema, created).length} B, GetTask ${toBinary(GetTaskResponseSchema, got).length} B, ListTasks(50) ${toBinary(ListTasksResponseSchema, listed).length} B`);

    echo = spawnNode(join(BENCH_DIST, 'rpc-echo-server.js'), ['--canned', cannedPath], { name: 'rpc echo server' });
    const { port } = await echo.waitForJson<{ port: number }>((v) => v['ready'] === true, 30_000, 'echo ready');
    echoClient = new RawSchedulerClient(`127.0.0.1:${port}`);
    if (opts.bytesEcho === true) {
      bytesEcho = spawnNode(join(BENCH_DIST, 'rpc-echo-server.js'), ['--canned', cannedPath, '--raw'], { name: 'rpc bytes echo server' });
      const raw = await bytesEcho.waitForJson<{ port: number }>((v) => v['ready'] === true, 30_000, 'bytes echo ready');
      bytesEchoClient = new RawSchedulerClient(`127.0.0.1:${raw.port}`);
    }

    const getRequests = Array.from({ length: opts.preload }, (_, i) => RawSchedulerClient.encode('getTask', { name: `pre-${i}` }));
    const listRequest = RawSchedulerClient.encode('listTasks', { pageSize: 50 });
    const methods: { name: string; call: (c: RawSchedulerClient, prefix: string) => Promise<unknown> }[] = [
      { name: 'CreateTask', call: (c, prefix) => c.call('createTask', RawSchedulerClient.encode('createTask', { task: newTask(prefix) })) },
      { name: 'GetTask', call: (c) => c.call('getTask', getRequests[Math.floor(Math.random() * getRequests.length)]!) },
      { name: 'ListTasks', call: (c) => c.call('listTasks', listRequest) },
    ];
    const rows: RpcRow[] = [];
    const measure = async (client: RawSchedulerClient, pid: number, method: (typeof methods)[number], concurrency: number, prefix: string) => {
      // Short warm-up (JIT, connection), then the measured run.
      await runLoad(() => method.call(client, `${prefix}w`), { concurrency, maxOps: 100_000, maxMs: 1_000 });
      const meter = new CpuMeter(pid);
      const noise = new NoiseMeter();
      noise.start([pid]);
      meter.start();
      const r = await runLoad(() => method.call(client, prefix), { concurrency, maxOps: 10_000_000, maxMs: opts.seconds * 1000 });
      return { ...r, cpuPercent: meter.stop()?.percent, otherCpuPercent: noise.stop().otherPercent };
    };
    for (const method of methods) {
      for (const concurrency of opts.concurrencies) {
        await waitForQuiet(`rpc ${method.name} c=${concurrency}`, 60_000, 40);
        const cp = await measure(cpClient, service.pid, method, concurrency, `c${concurrency}`);
        await sleep(500);
        const ec = await measure(echoClient, echo.pid, method, concurrency, `e${concurrency}`);
        const row: RpcRow = { method: method.name, concurrency, cronplane: cp, echo: ec, ratio: cp.opsPerSec / ec.opsPerSec, codeStamp: service.codeStamp };
        if (bytesEchoClient !== undefined && bytesEcho !== undefined) {
          await sleep(500);
          row.bytesEcho = await measure(bytesEchoClient, bytesEcho.pid, method, concurrency, `b${concurrency}`);
          row.bytesRatio = cp.opsPerSec / row.bytesEcho.opsPerSec;
        }
        rows.push(row);
        log(`rpc: ${method.name} c=${concurrency}: cronplane ${fmt(cp.opsPerSec)}/s p99 ${fmt(cp.latency.p99)} ms (${cp.errors} errors), echo ${fmt(ec.opsPerSec)}/s p99 ${fmt(ec.latency.p99)} ms: ${fmt(row.ratio * 100)}%${row.bytesRatio === undefined ? '' : `; bytes echo ${fmt(row.bytesEcho!.opsPerSec)}/s: ${fmt(row.bytesRatio * 100)}%`}`);
        await sleep(500);
      }
    }
    return rows;
  } finally {
    echoClient?.close();
    bytesEchoClient?.close();
    cpClient.close();
    await echo?.stop('SIGTERM', 5_000);
    await bytesEcho?.stop('SIGTERM', 5_000);
    await service.stop();
    await service.dispose();
  }
}

export function rpcTable(rows: RpcRow[]): string {
  const bytes = rows.some((r) => r.bytesEcho !== undefined);
  return formatTable(
    ['RPC', 'conc.', 'cronplane ops/s', 'p50 ms', 'p99 ms', 'CPU %', 'echo ops/s', 'echo p99 ms', 'echo CPU %', 'cronplane / echo', 'others CPU %', ...(bytes ? ['bytes-echo ops/s', 'cronplane / bytes-echo'] : [])],
    rows.map((r) => [
      r.method,
      String(r.concurrency),
      fmt(r.cronplane.opsPerSec),
      fmt(r.cronplane.latency.p50),
      fmt(r.cronplane.latency.p99),
      fmt(r.cronplane.cpuPercent),
      fmt(r.echo.opsPerSec),
      fmt(r.echo.latency.p99),
      fmt(r.echo.cpuPercent),
      `${fmt(round(r.ratio * 100))}%`,
      fmt(Math.max(r.cronplane.otherCpuPercent, r.echo.otherCpuPercent)),
      ...(bytes ? [fmt(r.bytesEcho?.opsPerSec), r.bytesRatio === undefined ? '' : `${fmt(round(r.bytesRatio * 100))}%`] : []),
    ]),
  );
}

async function main(): Promise<void> {
  const args = new Args();
  const opts: RpcOptions = {
    seconds: args.number('seconds', 10),
    concurrencies: args.numbers('concurrency', [1, 64]),
    preload: args.number('preload', 10_000),
    bytesEcho: args.flag('bytes-echo'),
  };
  const rows = await runRpc(opts);
  const path = writeResult(args.string('out', 'rpc'), { options: opts, rows });
  process.stdout.write(`\nControl-plane RPC (one client process, one channel per server)\n${rpcTable(rows)}\n\nwrote ${path}\n`);
}

if (isMain(import.meta.url)) {
  main().then(() => process.exit(0), (err) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
