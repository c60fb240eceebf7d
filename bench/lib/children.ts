import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** Repository root (this file runs from dist/bench/lib). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/** Compiled benchmark scripts. */
export const BENCH_DIST = resolve(REPO_ROOT, 'dist/bench');
/** The built cronplane CLI. */
export const CLI_PATH = resolve(REPO_ROOT, 'dist/src/cli/cronplane.js');

const live = new Set<ChildProcess>();
let hooked = false;

/** Never leave a child behind: SIGKILL whatever is still alive when this process exits. */
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  const killAll = () => {
    for (const child of live) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killAll();
      process.exit(130);
    });
  }
}

/** A child process with its stdout split into lines (JSON lines parsed) and its exit awaited. */
export class Child {
  readonly lines: string[] = [];
  stderr = '';
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly waiters = new Set<{ test: (line: string) => boolean; resolve: (line: string) => void }>();
  private readonly lineListeners = new Set<(line: string) => void>();
  /** Keep at most this many stdout lines (a busy service may log a lot). */
  maxLines = 10_000;

  constructor(readonly process: ChildProcess, readonly name: string) {
    live.add(process);
    hookExit();
    this.closed = new Promise((res) => {
      process.once('close', (code, signal) => {
        live.delete(process);
        this.exit = { code, signal };
        res(this.exit);
      });
      process.once('error', (err) => {
        live.delete(process);
        this.stderr += `spawn error: ${err.message}\n`;
        this.exit = { code: null, signal: null };
        res(this.exit);
      });
    });
    process.stderr?.setEncoding('utf8').on('data', (d: string) => {
      if (this.stderr.length < 1_000_000) this.stderr += d;
    });
    if (process.stdout) {
      createInterface({ input: process.stdout }).on('line', (line) => {
        if (this.lines.length < this.maxLines) this.lines.push(line);
        for (const l of this.lineListeners) l(line);
        for (const w of this.waiters) {
          if (w.test(line)) {
            this.waiters.delete(w);
            w.resolve(line);
          }
        }
      });
    }
  }

  get pid(): number {
    return this.process.pid!;
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  onLine(listener: (line: string) => void): void {
    this.lineListeners.add(listener);
  }

  /** The first stdout line (seen or to come) that passes `test`; rejects on exit or timeout. */
  waitForLine(test: (line: string) => boolean, timeoutMs: number, what: string): Promise<string> {
    const seen = this.lines.find(test);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolvePromise, reject) => {
      const waiter = { test, resolve: (line: string) => { clearTimeout(timer); resolvePromise(line); } };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`${this.name}: timed out after ${timeoutMs} ms waiting for ${what}; stderr: ${this.stderr.slice(-2000)}`));
      }, timeoutMs);
      this.waiters.add(waiter);
      void this.closed.then((exit) => {
        if (!this.waiters.has(waiter)) return;
        this.waiters.delete(waiter);
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (${JSON.stringify(exit)}) before ${what}; stderr: ${this.stderr.slice(-2000)}`));
      });
    });
  }

  /** The first JSON stdout line whose object passes `test`. */
  async waitForJson<T = Record<string, unknown>>(test: (value: Record<string, unknown>) => boolean, timeoutMs: number, what: string): Promise<T> {
    const line = await this.waitForLine((l) => {
      const v = parseJson(l);
      return v !== undefined && test(v);
    }, timeoutMs, what);
    return parseJson(line) as T;
  }

  /** Send `signal`; SIGKILL after `timeoutMs`. Resolves with the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null; killed: boolean }> {
    if (this.exit !== undefined) return { ...this.exit, killed: false };
    this.process.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), timeoutMs)));
    const result = await Promise.race([this.closed, timedOut]);
    clearTimeout(timer);
    if (result === 'timeout') {
      this.process.kill('SIGKILL');
      return { ...(await this.closed), killed: true };
    }
    return { ...result, killed: false };
  }
}

export function parseJson(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const v = JSON.parse(line) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Spawn `node [nodeArgs] script [args]`, tracked so it is killed if the benchmark dies. */
export function spawnNode(script: string, args: string[], options: { nodeArgs?: string[]; env?: NodeJS.ProcessEnv; name?: string; cwd?: string; stdin?: boolean } = {}): Child {
  const spawnOptions: SpawnOptions = {
    env: options.env ?? process.env,
    stdio: [options.stdin === true ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    cwd: options.cwd ?? REPO_ROOT,
  };
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), script, ...args], spawnOptions);
  return new Child(child, options.name ?? script);
}

/** A port that was free a moment ago. */
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

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Writes one JSON line to stdout: the protocol between a benchmark child and its parent. */
export function report(value: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
