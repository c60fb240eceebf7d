import { canConnect } from './nats-server.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { NATS_SERVER_BIN } from './nats-server.js';

/** A port nobody listens on right now (the OS picks it; tiny race until the server binds it). */
export function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}


export interface JetStreamServerOptions {
  name: string;
  port: number;
  storeDir: string;
  /** Cluster membership: this node's route port and every node's route port (its own included). */
  cluster?: { name: string; port: number; routes: number[] };
}

/** The nats-server configuration for one JetStream node on loopback. */
export function jetStreamServerConfig(options: JetStreamServerOptions): string {
  const lines = [
    `server_name: ${options.name}`,
    'listen: 127.0.0.1:' + String(options.port),
    'jetstream {',
    `  store_dir: ${JSON.stringify(options.storeDir)}`,
    '  max_memory_store: 256MB',
    '  max_file_store: 1GB',
    '}',
  ];
  if (options.cluster !== undefined) {
    lines.push(
      'cluster {',
      `  name: ${options.cluster.name}`,
      `  listen: 127.0.0.1:${options.cluster.port}`,
      '  routes: [',
      ...options.cluster.routes.map((p) => `    nats-route://127.0.0.1:${p}`),
      '  ]',
      '}',
    );
  }
  return `${lines.join('\n')}\n`;
}

/** One nats-server process with JetStream, started from a config file in its own temp dir. */
export class JetStreamServer {
  stderr = '';
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private running = false;

  constructor(readonly options: JetStreamServerOptions, private readonly configPath: string) {}

  get port(): number {
    return this.options.port;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.options.port}`;
  }

  /** A single server with JetStream on a free port and a fresh store dir. */
  static async startSingle(): Promise<JetStreamServer> {
    const dir = mkdtempSync(join(tmpdir(), 'cronplane-js-'));
    const options: JetStreamServerOptions = { name: 'single', port: await freeTcpPort(), storeDir: join(dir, 'store') };
    const configPath = join(dir, 'nats.conf');
    writeFileSync(configPath, jetStreamServerConfig(options));
    const server = new JetStreamServer(options, configPath);
    server.tempDir = dir;
    await server.start();
    return server;
  }

  /** Removed by `destroy()`. */
  tempDir: string | undefined;

  /** (Re)start the process and wait until it accepts TCP connections. */
  async start(timeoutMs = 10_000): Promise<void> {
    if (this.running) return;
    writeFileSync(this.configPath, jetStreamServerConfig(this.options));
    const child = spawn(NATS_SERVER_BIN, ['-c', this.configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
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
      if (gone) throw new Error(`nats-server ${this.options.name} exited early: ${this.stderr}`);
      if (await canConnect(this.options.port)) return;
      if (Date.now() > deadline) {
        await this.kill();
        throw new Error(`nats-server ${this.options.name} did not listen within ${timeoutMs} ms: ${this.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** SIGKILL and wait for the exit. Safe to call twice. */
  async kill(): Promise<void> {
    if (this.running) this.child?.kill('SIGKILL');
    await this.exited;
  }

  /** Kill it and remove its temp dir (only for servers made by startSingle). */
  async destroy(): Promise<void> {
    await this.kill();
    if (this.tempDir !== undefined) rmSync(this.tempDir, { recursive: true, force: true });
  }
}

/** A JetStream cluster of `size` nodes on loopback, each with its own store dir. */
export class JetStreamCluster {
  private constructor(readonly servers: JetStreamServer[], private readonly dir: string) {}

  get urls(): string[] {
    return this.servers.map((s) => s.url);
  }

  static async start(size = 3, name = 'cronplane-test'): Promise<JetStreamCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'cronplane-jsc-'));
    const clientPorts: number[] = [];
    const routePorts: number[] = [];
    for (let i = 0; i < size; i++) {
      clientPorts.push(await freeTcpPort());
      routePorts.push(await freeTcpPort());
    }
    const servers = clientPorts.map((port, i) => {
      const options: JetStreamServerOptions = {
        name: `n${i + 1}`,
        port,
        storeDir: join(dir, `n${i + 1}`),
        cluster: { name, port: routePorts[i]!, routes: routePorts },
      };
      return new JetStreamServer(options, join(dir, `n${i + 1}.conf`));
    });
    const cluster = new JetStreamCluster(servers, dir);
    try {
      await Promise.all(servers.map((s) => s.start()));
    } catch (err) {
      await cluster.destroy();
      throw err;
    }
    return cluster;
  }

  async destroy(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.kill()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Resolve once JetStream answers on this connection (a cluster needs a meta leader first). */
export async function waitForJetStream(nc: NatsConnection, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const jsm = await jetstreamManager(nc, { timeout: 2_000 });
      await jsm.getAccountInfo();
      return;
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`JetStream not available within ${timeoutMs} ms: ${String(last)}`);
}
