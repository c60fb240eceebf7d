import { spawn, type ChildProcess } from 'node:child_process';
import { connect as tcpConnect } from 'node:net';
import { connect, type NatsConnection } from '@nats-io/transport-node';

/** Debian's nats-server; override with NATS_SERVER_BIN. */
export const NATS_SERVER_BIN = process.env['NATS_SERVER_BIN'] ?? '/usr/sbin/nats-server';

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

/** A throwaway nats-server on loopback, for tests where NATS comes and goes. */
export class NatsServerProcess {
  stderr = '';
  /** When the server first accepted a TCP connection (ms since epoch). */
  readyAt = 0;
  private exited: ExitState | undefined;
  private readonly closed: Promise<void>;

  private constructor(readonly port: number, private readonly child: ChildProcess) {
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    child.stdout!.resume();
    this.closed = new Promise((resolve) => {
      child.once('close', (code, signal) => { this.exited = { code, signal }; resolve(); });
      child.once('error', (err) => { this.stderr += `spawn error: ${err.message}\n`; this.exited = { code: null, signal: null }; resolve(); });
    });
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Start `nats-server -a 127.0.0.1 -p <port>` and resolve once it accepts connections. */
  static async start(port: number, timeoutMs = 5_000): Promise<NatsServerProcess> {
    const child = spawn(NATS_SERVER_BIN, ['-a', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const server = new NatsServerProcess(port, child);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (server.exited !== undefined) throw new Error(`nats-server exited early (${JSON.stringify(server.exited)}): ${server.stderr}`);
      if (await canConnect(port)) break;
      if (Date.now() > deadline) {
        await server.stop();
        throw new Error(`nats-server did not listen on ${port} within ${timeoutMs} ms: ${server.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    server.readyAt = Date.now();
    return server;
  }

  /** Kill it (SIGKILL: nothing to flush) and wait for the exit. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.exited === undefined) this.child.kill('SIGKILL');
    await this.closed;
  }
}

interface ExitState {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * Connect as soon as a server at `url` accepts: retried every few ms, so a test can subscribe
 * within milliseconds of a server coming up (before a service's slower reconnect backoff fires).
 */
export async function connectWhenUp(url: string, timeoutMs = 5_000): Promise<NatsConnection> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await connect({ servers: url, reconnect: false, timeout: 1_000 });
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`no NATS at ${url} within ${timeoutMs} ms: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}
