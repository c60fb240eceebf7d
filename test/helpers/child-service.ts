import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createSchedulerClient, type SchedulerClient } from '../../src/client/scheduler-client.js';
import { NATS_URL, uniquePrefix } from './service-harness.js';

/** The built CLI, next to this file once compiled (dist/test/helpers -> dist/src/cli). */
export const CLI_PATH = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/cli/cronplane.js');

/** One parsed stdout line of the service (pino JSON). */
export type LogLine = Record<string, unknown> & { msg?: string; level?: string; time?: string };

/** How a child process ended. */
export interface ExitResult {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Everything one run of `cronplane serve` wrote, kept per run so a restart does not mix them. */
export interface ServeRun {
  /** Every stdout line as written. */
  raw: string[];
  /** The stdout lines that parsed as one JSON object each. */
  lines: LogLine[];
  /** The stdout lines that did not. */
  nonJson: string[];
  stderr: string;
  exit: ExitResult | undefined;
}

/** A port that was free a moment ago: listen on 0, read the port, close. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolvePort(port));
    });
  });
}

/** This process's environment without any CRONPLANE_* variable, so the child sees only what a test sets. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CRONPLANE_')) env[k] = v;
  return { ...env, ...extra };
}

/** Run `cronplane <args>` to completion (for commands that are expected to exit by themselves). */
export async function runCli(
  args: string[],
  env: Record<string, string>,
  timeoutMs = 10_000,
): Promise<ExitResult & { stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI_PATH, ...args], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    const exit = await new Promise<ExitResult>((res, rej) => {
      child.once('error', rej);
      child.once('close', (code, signal) => res({ code, signal }));
    });
    return { ...exit, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

export interface ChildServiceOptions {
  /** Extra CRONPLANE_* variables (win over the defaults below). */
  env?: Record<string, string>;
  natsUrl?: string;
  nodeName?: string;
}

interface Waiter {
  run: ServeRun;
  predicate: (line: LogLine) => boolean;
  resolve: (line: LogLine) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * `cronplane serve` as a real child process: its own SQLite file in a temp dir, its own loopback
 * ports (kept across restarts, so a restart is the same service), stdout collected as JSON lines.
 */
export class ChildService {
  readonly dir = mkdtempSync(join(tmpdir(), 'cronplane-proc-'));
  readonly prefix = uniquePrefix();
  readonly nodeName: string;
  readonly runs: ServeRun[] = [];
  grpcPort = 0;
  httpPort = 0;
  /** A client for the current run; replaced on each start, closed on each stop. */
  client!: SchedulerClient;
  private child: ChildProcess | undefined;
  private closed: Promise<ExitResult> | undefined;
  private readonly waiters = new Set<Waiter>();

  constructor(private readonly options: ChildServiceOptions = {}) {
    this.nodeName = options.nodeName ?? 'proc-test-node';
  }

  /** The environment the child gets (besides the inherited non-CRONPLANE_ variables). */
  get env(): Record<string, string> {
    return {
      CRONPLANE_GRPC_ADDR: `127.0.0.1:${this.grpcPort}`,
      CRONPLANE_HTTP_ADDR: `127.0.0.1:${this.httpPort}`,
      CRONPLANE_STORE: `sqlite:${join(this.dir, 'cronplane.db')}`,
      CRONPLANE_NATS_URL: this.options.natsUrl ?? NATS_URL,
      CRONPLANE_SUBJECT_PREFIX: this.prefix,
      CRONPLANE_NODE_NAME: this.nodeName,
      CRONPLANE_SHUTDOWN_GRACE: '2s',
      ...this.options.env,
    };
  }

  /** The current (or last) run. */
  get run(): ServeRun {
    const run = this.runs[this.runs.length - 1];
    if (run === undefined) throw new Error('not started');
    return run;
  }

  /** Log lines of the current run. */
  get lines(): LogLine[] {
    return this.run.lines;
  }

  get isRunning(): boolean {
    return this.child !== undefined && this.runs.length > 0 && this.run.exit === undefined;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Spawn `serve` and resolve once it logs 'cronplane serving'; reject if it exits first. */
  async start(timeoutMs = 10_000): Promise<this> {
    if (this.isRunning) throw new Error('already running');
    if (this.grpcPort === 0) {
      this.grpcPort = await freePort();
      this.httpPort = await freePort();
    }
    const run: ServeRun = { raw: [], lines: [], nonJson: [], stderr: '', exit: undefined };
    this.runs.push(run);
    const child = spawn(process.execPath, [CLI_PATH, 'serve'], { env: cleanEnv(this.env), stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.closed = new Promise<ExitResult>((res) => {
      const finish = (exit: ExitResult) => {
        if (run.exit !== undefined) return;
        run.exit = exit;
        for (const w of this.waiters) {
          if (w.run !== run) continue;
          this.waiters.delete(w);
          clearTimeout(w.timer);
          w.reject(new Error(`cronplane serve exited (code ${exit.code}, signal ${exit.signal}); stderr: ${run.stderr.trim()}`));
        }
        res(exit);
      };
      child.once('close', (code, signal) => finish({ code, signal }));
      child.once('error', (err) => {
        run.stderr += `spawn error: ${err.message}\n`;
        finish({ code: null, signal: null });
      });
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (run.stderr += d));
    createInterface({ input: child.stdout! }).on('line', (text) => this.onLine(run, text));

    const serving = await this.waitForLine((l) => l.msg === 'cronplane serving', timeoutMs, "'cronplane serving'");
    if (serving['grpc'] !== `127.0.0.1:${this.grpcPort}`) throw new Error(`serving on ${String(serving['grpc'])}, expected port ${this.grpcPort}`);
    this.client = createSchedulerClient(`127.0.0.1:${this.grpcPort}`);
    return this;
  }

  /** Send `signal` and resolve with the exit; SIGKILL (and reject) if it has not exited after `timeoutMs`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<ExitResult> {
    const run = this.run;
    const closed = this.closed!;
    if (run.exit === undefined) {
      this.child!.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), timeoutMs)));
      const result = await Promise.race([closed, timedOut]);
      clearTimeout(timer);
      if (result === 'timeout') {
        this.child!.kill('SIGKILL');
        await closed;
        this.client?.close();
        throw new Error(`cronplane serve did not exit within ${timeoutMs} ms of ${signal}`);
      }
    }
    this.client?.close();
    return closed;
  }

  /** kill -9: no shutdown at all, as in a crash or an OOM kill. */
  kill(): Promise<ExitResult> {
    return this.stop('SIGKILL');
  }

  /** Resolve with the first line of the current run (already seen or still to come) that matches. */
  waitForLine(predicate: (line: LogLine) => boolean, timeoutMs = 5_000, what = 'a log line'): Promise<LogLine> {
    const run = this.run;
    const seen = run.lines.find(predicate);
    if (seen !== undefined) return Promise.resolve(seen);
    if (run.exit !== undefined) return Promise.reject(new Error(`cronplane serve already exited; no ${what}; stderr: ${run.stderr.trim()}`));
    return new Promise<LogLine>((res, rej) => {
      const waiter: Waiter = {
        run,
        predicate,
        resolve: res,
        reject: rej,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          rej(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; stderr: ${run.stderr.trim()}`));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  /** Kill whatever still runs (kill -9), close the client, remove the temp dir. Safe to call twice. */
  async dispose(): Promise<void> {
    if (this.isRunning) {
      this.child!.kill('SIGKILL');
      await this.closed;
    }
    for (const w of this.waiters) clearTimeout(w.timer);
    this.waiters.clear();
    this.client?.close();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private onLine(run: ServeRun, text: string): void {
    run.raw.push(text);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = undefined;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      run.nonJson.push(text);
      return;
    }
    const line = value as LogLine;
    run.lines.push(line);
    for (const w of this.waiters) {
      if (w.run !== run || !w.predicate(line)) continue;
      this.waiters.delete(w);
      clearTimeout(w.timer);
      w.resolve(line);
    }
  }
}
