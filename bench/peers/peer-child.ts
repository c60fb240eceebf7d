import { createRequire } from 'node:module';
import { connect as netConnect, type Socket } from 'node:net';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { Cron } from 'croner';
import nodeCron, { type ScheduledTask } from 'node-cron';
import { Queue, Worker, type ConnectionOptions, type Job } from 'bullmq';
import { Args } from '../lib/args.js';
import { report } from '../lib/children.js';
import { RespRedisClient } from './resp-redis-client.js';

/**
 * One peer of the fire-precision benchmark, alone in its own process: N per-second jobs with
 * croner, node-cron or BullMQ job schedulers (or a baseline: `floor`, one timer and a publish loop;
 * `floor-wire`, each second's messages pre-built and written at once), each fire publishing the same NATS message as a
 * cronplane nats_publish action (same payload, same Cronplane-* headers). Prints one JSON line
 * {"ready":...} when every job exists and {"stopped":...} after SIGTERM, then exits.
 */

const args = new Args();
const kind = args.string('kind', 'croner');
const tasks = args.number('tasks', 1000);
const subject = args.string('subject', 'cpbench.fire');
const natsUrl = args.string('nats', 'nats://127.0.0.1:4222');
const namePrefix = args.string('name-prefix', 'fp-');
const payload = new TextEncoder().encode(args.string('payload', '{"bench":true}'));
const redisPort = args.number('redis-port', 6379);
const queueName = args.string('queue', `cpbench-${process.pid}`);
const workerConcurrency = args.number('concurrency', 100);

let published = 0;
let publishErrors = 0;

function publish(nc: NatsConnection, task: string, scheduledMs: number): void {
  const h = headers();
  const id = `${task}-${scheduledMs}`;
  h.set('Cronplane-Task', task);
  h.set('Cronplane-Execution-Id', id);
  h.set('Cronplane-Scheduled-Time', new Date(scheduledMs).toISOString());
  h.set('Cronplane-Attempt', '1');
  h.set('Idempotency-Key', id);
  try {
    nc.publish(subject, payload, { headers: h });
    published++;
  } catch {
    publishErrors++;
  }
}

const floorSecond = (ms: number) => ms - (ms % 1000);

/**
 * Calls `run` with each second boundary from the next one on, as its timer reaches it. The
 * boundary it was armed for, not the second it wakes in: a timer that fired a little early
 * counted a second's messages for the one before (missed one, doubled the other).
 */
function everySecond(run: (at: number) => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let next = floorSecond(Date.now()) + 1000;
  const arm = () => {
    if (!stopped) timer = setTimeout(tick, next - Date.now());
  };
  const tick = () => {
    if (Date.now() < next) return arm();
    const at = next;
    next += 1000;
    run(at);
    arm();
  };
  arm();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** Every task's message for the occurrence at `scheduledMs`, as HPUB frames: what publish() sends. */
function wireFrames(scheduledMs: number): Buffer {
  const time = new Date(scheduledMs).toISOString();
  const body = Buffer.from(payload).toString('latin1');
  const parts: string[] = [];
  for (let i = 0; i < tasks; i++) {
    const task = `${namePrefix}${i}`;
    const id = `${task}-${scheduledMs}`;
    const h = `NATS/1.0\r\nCronplane-Task: ${task}\r\nCronplane-Execution-Id: ${id}\r\nCronplane-Scheduled-Time: ${time}\r\nCronplane-Attempt: 1\r\nIdempotency-Key: ${id}\r\n\r\n`;
    parts.push(`HPUB ${subject} ${h.length} ${h.length + body.length}\r\n${h}${body}\r\n`);
  }
  return Buffer.from(parts.join(''), 'latin1');
}

/** A bare NATS connection for the wire floor: CONNECT, and PONG to the server's PINGs. */
async function wireConnect(url: string): Promise<Socket> {
  const u = new URL(url);
  const socket = netConnect(Number(u.port || 4222), u.hostname);
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => { publishErrors++; });
  socket.on('data', (d: Buffer) => {
    if (d.includes('PING\r\n')) socket.write('PONG\r\n');
    if (d.includes('-ERR')) publishErrors++;
  });
  socket.write(`CONNECT ${JSON.stringify({ verbose: false, pedantic: false, headers: true, name: 'cpbench-peer-floor-wire' })}\r\n`);
  return socket;
}

async function main(): Promise<void> {
  const nc = await connect({ servers: natsUrl, name: `cpbench-peer-${kind}` });
  const t0 = performance.now();
  let stop: () => Promise<Record<string, unknown>>;
  let driver = kind;

  if (kind === 'croner') {
    const jobs: Cron[] = [];
    for (let i = 0; i < tasks; i++) {
      const name = `${namePrefix}${i}`;
      // croner calls back at (or just after) the second boundary: that boundary is the occurrence.
      jobs.push(new Cron('* * * * * *', () => publish(nc, name, floorSecond(Date.now()))));
    }
    stop = async () => {
      for (const j of jobs) j.stop();
      return {};
    };
  } else if (kind === 'floor') {
    // Not a scheduler: one timer per second boundary publishing every task's message in a loop.
    // The best a single process can do; what is left is publishing, NATS and the subscriber.
    const names = Array.from({ length: tasks }, (_, i) => `${namePrefix}${i}`);
    const stopTimer = everySecond((at) => {
      for (const name of names) publish(nc, name, at);
    });
    stop = async () => {
      stopTimer();
      return {};
    };
  } else if (kind === 'floor-wire') {
    // Not a scheduler either: the transport's own floor. The next second's messages are built
    // beforehand as the bytes nats.js would send and go out in one socket write at the boundary:
    // no client library and no per-message work at the instant, so what is left is the
    // kernel, nats-server and the subscriber.
    const socket = await wireConnect(natsUrl);
    let framesFor = floorSecond(Date.now()) + 1000;
    let frames = wireFrames(framesFor);
    const build = (at: number) => {
      if (framesFor === at) return;
      frames = wireFrames(at);
      framesFor = at;
    };
    const stopTimer = everySecond((at) => {
      build(at); // only if the last write is still with the kernel: late, but right
      // The next second's frames are built once this write is with the kernel, not before:
      // a write it could not take at once would otherwise wait for the build.
      socket.write(frames, () => build(at + 1000));
      published += tasks;
    });
    stop = async () => {
      stopTimer();
      await new Promise<void>((resolve) => socket.end(resolve));
      return {};
    };
  } else if (kind === 'node-cron') {
    let selfReportedMissed = 0;
    const jobs: ScheduledTask[] = [];
    for (let i = 0; i < tasks; i++) {
      const name = `${namePrefix}${i}`;
      // node-cron passes the slot it fires for as context.date.
      const job = nodeCron.schedule('* * * * * *', (ctx) => publish(nc, name, ctx.date.getTime()));
      job.on('execution:missed', () => { selfReportedMissed++; });
      jobs.push(job);
    }
    stop = async () => {
      for (const j of jobs) await j.destroy();
      return { selfReportedMissed };
    };
  } else if (kind === 'bullmq') {
    const require = createRequire(import.meta.url);
    let makeConnection: () => ConnectionOptions;
    try {
      const IORedis = require('ioredis') as new (o: object) => ConnectionOptions;
      makeConnection = () => new IORedis({ host: '127.0.0.1', port: redisPort, maxRetriesPerRequest: null });
      driver = 'bullmq+ioredis';
    } catch {
      makeConnection = () => new RespRedisClient({ host: '127.0.0.1', port: redisPort }) as unknown as ConnectionOptions;
      driver = 'bullmq+bench-resp-client';
    }
    const queue = new Queue(queueName, { connection: makeConnection() });
    queue.on('error', () => undefined);
    const ids = Array.from({ length: tasks }, (_, i) => `${namePrefix}${i}`);
    for (let i = 0; i < ids.length; i += 200) {
      await Promise.all(ids.slice(i, i + 200).map((id) =>
        queue.upsertJobScheduler(id, { pattern: '* * * * * *' }, {
          name: 'fire',
          data: {},
          opts: { removeOnComplete: true, removeOnFail: true },
        })));
    }
    let workerErrors = 0;
    const worker = new Worker(queueName, async (job: Job) => {
      // Scheduler jobs are "repeat:<scheduler id>:<occurrence ms>": the id carries the occurrence.
      const id = job.id ?? '';
      const at = Number(id.slice(id.lastIndexOf(':') + 1));
      const task = job.repeatJobKey ?? id.slice('repeat:'.length, id.lastIndexOf(':'));
      publish(nc, task, Number.isFinite(at) ? at : floorSecond(job.timestamp));
    }, { connection: makeConnection(), concurrency: workerConcurrency });
    worker.on('error', () => { workerErrors++; });
    stop = async () => {
      await worker.close();
      await queue.obliterate({ force: true });
      await queue.close();
      return { workerErrors, queue: queueName, concurrency: workerConcurrency };
    };
  } else {
    throw new Error(`unknown peer kind "${kind}"`);
  }

  const mem = process.memoryUsage();
  report({ ready: true, kind, driver, tasks, setupMs: performance.now() - t0, rssMiB: mem.rss / 2 ** 20, heapUsedMiB: mem.heapUsed / 2 ** 20 });

  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  const extra = await stop();
  await nc.flush().catch(() => undefined);
  await nc.close();
  const end = process.memoryUsage();
  report({ stopped: true, kind, driver, published, publishErrors, rssMiB: end.rss / 2 ** 20, heapUsedMiB: end.heapUsed / 2 ** 20, ...extra });
  process.exit(0);
}

// Bounded life: a peer never outlives its benchmark by more than this.
setTimeout(() => process.exit(3), args.number('max-seconds', 900) * 1000).unref();

main().catch((err) => {
  process.stderr.write(`peer ${kind}: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
