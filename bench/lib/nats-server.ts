import { spawn } from 'node:child_process';
import { connect as tcpConnect } from 'node:net';
import { Child, sleep } from './children.js';

/** Debian's nats-server; override with NATS_SERVER_BIN. */
export const NATS_SERVER_BIN = process.env['NATS_SERVER_BIN'] ?? '/usr/sbin/nats-server';

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

/** A private nats-server on loopback (core NATS only, nothing persisted); killed on exit. */
export async function startNatsServer(port: number, timeoutMs = 10_000): Promise<Child> {
  const child = new Child(spawn(NATS_SERVER_BIN, ['-a', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] }), 'nats-server');
  const deadline = Date.now() + timeoutMs;
  while (!(await canConnect(port))) {
    if (!child.running) throw new Error(`nats-server exited: ${child.stderr}`);
    if (Date.now() > deadline) {
      await child.stop('SIGKILL');
      throw new Error(`nats-server did not listen on ${port}`);
    }
    await sleep(20);
  }
  return child;
}
