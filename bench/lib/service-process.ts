import { SERVICE_NODE_FLAGS } from '../../src/cli/service-node-flags.js';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSchedulerClient, type SchedulerClient } from '../../src/client/scheduler-client.js';
import { CLI_PATH, freePort, parseJson, REPO_ROOT, sleep, spawnNode, type Child } from './children.js';
import { codeStamp } from './results.js';

export const NATS_URL = process.env['CRONPLANE_BENCH_NATS_URL'] ?? 'nats://127.0.0.1:4222';

export interface CronplaneProcessOptions {
  /** An existing SQLite file (start-up benchmarks); default: a fresh one in a temp dir. */
  dbPath?: string;
  /** pino level; 'info' is needed to see the 'cronplane serving' line. Default 'warn'. */
  logLevel?: string;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeArgs?: string[];
  env?: Record<string, string>;
  natsUrl?: string;
  /** Give up waiting for readiness after this long. */
  startTimeoutMs?: number;
}

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CRONPLANE_')) env[k] = v;
  return { ...env, ...extra };
}

function httpStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = get(url, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.setTimeout(1_000, () => req.destroy());
  });
}

/**
 * `cronplane serve` as a child process, the way it runs in production: its own SQLite file,
 * loopback ports, a unique subject prefix. Ready when it logs 'cronplane serving' (at info
 * level) or, at quieter levels, when /readyz answers 200.
 */
export class CronplaneProcess {
  readonly dir = mkdtempSync(join(tmpdir(), 'cronplane-bench-'));
  readonly prefix = `cpbench${process.pid}x${Math.random().toString(36).slice(2, 8)}`;
  readonly dbPath: string;
  child!: Child;
  client!: SchedulerClient;
  grpcPort = 0;
  httpPort = 0;
  /** From spawn to ready, in ms. */
  startupMs = 0;
  /** From spawn to the 'engine started' log line (info level only). */
  engineStartedMs: number | undefined;
  private spawnedAt = 0;
  /** Content hash of dist/src when this service was spawned (others may rebuild dist/ meanwhile). */
  codeStamp = '';

  /** Where --cpu-prof writes, when CPBENCH_CPU_PROF=<label> profiles every service child. */
  readonly profileDir: string | undefined;

  constructor(private readonly options: CronplaneProcessOptions = {}) {
    this.dbPath = options.dbPath ?? join(this.dir, 'cronplane.db');
    const label = process.env['CPBENCH_CPU_PROF'];
    if (label !== undefined && label !== '' && !(options.nodeArgs ?? []).some((a) => a.startsWith('--cpu-prof'))) {
      this.profileDir = join(REPO_ROOT, 'bench/results/profiles', `${label}-${Date.now()}`);
      mkdirSync(this.profileDir, { recursive: true });
    }
  }

  get pid(): number {
    return this.child.pid;
  }

  get address(): string {
    return `127.0.0.1:${this.grpcPort}`;
  }

  async start(): Promise<this> {
    this.grpcPort = await freePort();
    this.httpPort = await freePort();
    const logLevel = this.options.logLevel ?? 'warn';
    const env = cleanEnv({
      CRONPLANE_GRPC_ADDR: `127.0.0.1:${this.grpcPort}`,
      CRONPLANE_HTTP_ADDR: `127.0.0.1:${this.httpPort}`,
      CRONPLANE_STORE: `sqlite:${this.dbPath}`,
      CRONPLANE_NATS_URL: this.options.natsUrl ?? NATS_URL,
      CRONPLANE_SUBJECT_PREFIX: this.prefix,
      CRONPLANE_NODE_NAME: 'bench',
      CRONPLANE_LOG_LEVEL: logLevel,
      CRONPLANE_SHUTDOWN_GRACE: '2s',
      ...this.options.env,
    });
    this.codeStamp = codeStamp();
    this.spawnedAt = performance.now();
    // As `make run` starts it.
    const nodeArgs = [...SERVICE_NODE_FLAGS, ...(this.options.nodeArgs ?? []), ...(this.profileDir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${this.profileDir}`] : [])];
    this.child = spawnNode(CLI_PATH, ['serve'], { nodeArgs, env, name: 'cronplane serve' });
    this.child.maxLines = 2_000;
    const timeout = this.options.startTimeoutMs ?? 120_000;
    if (logLevel === 'info' || logLevel === 'debug' || logLevel === 'trace') {
      this.child.onLine((line) => {
        if (this.engineStartedMs === undefined && line.includes('"engine started"')) this.engineStartedMs = performance.now() - this.spawnedAt;
      });
      await this.child.waitForLine((l) => parseJson(l)?.['msg'] === 'cronplane serving', timeout, "'cronplane serving'");
    } else {
      const deadline = Date.now() + timeout;
      for (;;) {
        if (!this.child.running) throw new Error(`cronplane serve exited during start: ${this.child.stderr.slice(-2000)}`);
        if ((await httpStatus(`http://127.0.0.1:${this.httpPort}/readyz`)) === 200) break;
        if (Date.now() > deadline) throw new Error(`cronplane serve not ready after ${timeout} ms`);
        await sleep(10);
      }
    }
    this.startupMs = performance.now() - this.spawnedAt;
    this.client = createSchedulerClient(this.address, { channelOptions: { 'grpc.max_receive_message_length': 64 * 1024 * 1024 } });
    return this;
  }

  /** SIGTERM (graceful), SIGKILL after `timeoutMs`. Returns how long the stop took. */
  async stop(timeoutMs = 20_000): Promise<{ ms: number; killed: boolean; code: number | null }> {
    const t0 = performance.now();
    this.client?.close();
    if (this.child === undefined) return { ms: 0, killed: false, code: null };
    const exit = await this.child.stop('SIGTERM', timeoutMs);
    return { ms: performance.now() - t0, killed: exit.killed, code: exit.code };
  }

  /** Stop (if running) and remove the temp dir (never a caller-supplied db outside it). */
  async dispose(): Promise<void> {
    if (this.child?.running) await this.child.stop('SIGKILL', 5_000);
    this.client?.close();
    if (process.env.CPBENCH_KEEP_DIR === undefined) rmSync(this.dir, { recursive: true, force: true });
    else process.stderr.write(`kept ${this.dir}\n`);
  }
}
