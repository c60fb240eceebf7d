import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeTcpPort } from './nats-cluster.js';
import { canConnect, NATS_SERVER_BIN } from './nats-server.js';


/**
 * A single JetStream nats-server started from flags, so a test can add command-line options
 * the config-file helper (nats-cluster.ts) has no field for, e.g. `--user u --pass p` or
 * `--auth tok`. Free port and its own store dir; `kill()` + `start()` keep both.
 */
export class FlagJetStreamServer {
  stderr = '';
  readonly dir = mkdtempSync(join(tmpdir(), 'cronplane-jsf-'));
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private running = false;

  private constructor(readonly port: number, readonly extraArgs: string[]) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** `nats-server -a 127.0.0.1 -p <free port> -js -sd <temp dir> <extraArgs>`, ready to accept connections. */
  static async start(extraArgs: string[] = []): Promise<FlagJetStreamServer> {
    const server = new FlagJetStreamServer(await freeTcpPort(), extraArgs);
    await server.start();
    return server;
  }

  /** (Re)start on the same port and store dir; resolves once it accepts TCP connections. */
  async start(timeoutMs = 10_000): Promise<void> {
    if (this.running) return;
    const args = ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', join(this.dir, 'store'), ...this.extraArgs];
    const child = spawn(NATS_SERVER_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.running = true;
    let gone = false;
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    child.stdout!.resume();
    this.exited = new Promise((resolve) => {
      child.once('close', () => { gone = true; this.running = false; resolve(); });
      child.once('error', (err) => { this.stderr += `spawn error: ${err.message}\n`; gone = true; this.running = false; resolve(); });
    });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (gone) throw new Error(`nats-server exited early: ${this.stderr}`);
      if (await canConnect(this.port)) return;
      if (Date.now() > deadline) {
        await this.kill();
        throw new Error(`nats-server did not listen on ${this.port} within ${timeoutMs} ms: ${this.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** SIGKILL and wait for the exit. Safe to call twice. */
  async kill(): Promise<void> {
    if (this.running) this.child?.kill('SIGKILL');
    await this.exited;
  }

  /** Kill it and remove its store dir. */
  async destroy(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
