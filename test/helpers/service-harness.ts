import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createSchedulerClient, type SchedulerClient } from '../../src/client/scheduler-client.js';
import { loadConfig } from '../../src/config/config.js';
import { startService, type Service } from '../../src/main.js';

export const NATS_URL = process.env['CRONPLANE_TEST_NATS_URL'] ?? 'nats://127.0.0.1:4222';

/** A unique subject prefix per test, so tests sharing the machine's NATS never see each other. */
export function uniquePrefix(): string {
  return `cptest${process.pid}x${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * A whole service in this process: real SQLite file, real gRPC on loopback, the machine's NATS.
 * `env` overrides any CRONPLANE_* setting (CRONPLANE_STORE=jetstream and CRONPLANE_NATS_URL for
 * the replicated store on a test's own nats-server); the test's `nc` follows CRONPLANE_NATS_URL.
 */
export class ServiceHarness {
  readonly dir = mkdtempSync(join(tmpdir(), 'cronplane-svc-'));
  readonly prefix = uniquePrefix();
  service!: Service;
  client!: SchedulerClient;
  nc!: NatsConnection;

  constructor(private readonly env: Record<string, string> = {}) {}

  async start(): Promise<this> {
    const config = loadConfig([], {
      CRONPLANE_GRPC_ADDR: '127.0.0.1:0',
      CRONPLANE_HTTP_ADDR: '127.0.0.1:0',
      CRONPLANE_STORE: `sqlite:${join(this.dir, 'cronplane.db')}`,
      CRONPLANE_NATS_URL: NATS_URL,
      CRONPLANE_SUBJECT_PREFIX: this.prefix,
      CRONPLANE_NODE_NAME: 'test-node',
      CRONPLANE_LOG_LEVEL: process.env['CRONPLANE_TEST_LOG_LEVEL'] ?? 'silent',
      CRONPLANE_SHUTDOWN_GRACE: '2s',
      ...this.env,
    });
    this.service = await startService(config);
    this.client = createSchedulerClient(`127.0.0.1:${this.service.grpcPort}`);
    // The test's own connection goes where the service's does (a test may give it its own nats-server).
    this.nc ??= await connect({ servers: (this.env['CRONPLANE_NATS_URL'] ?? NATS_URL).split(',') });
    return this;
  }

  async restart(): Promise<void> {
    this.client.close();
    await this.service.stop();
    await this.start();
  }

  async close(): Promise<void> {
    this.client?.close();
    await this.service?.stop();
    await this.nc?.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Resolve when `check` returns a value other than undefined, polling; reject after `timeoutMs`. */
export async function eventually<T>(check: () => T | undefined | Promise<T | undefined>, timeoutMs = 5_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
