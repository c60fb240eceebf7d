import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { startService as StartService } from '../../src/main.js';
import type { loadConfig as LoadConfig } from '../../src/config/config.js';
import type { FakeClock as FakeClockClass } from '../../src/engine/fake-clock.js';
import type { createSchedulerClient as CreateClient } from '../../src/client/scheduler-client.js';
import { freePort } from './children.js';
import { runLoad } from './load.js';
import { publishTask } from './task-specs.js';

/** A build's whole service in this process on a FakeClock, and a gRPC client of it. */
export interface FakeClockService {
  service: Awaited<ReturnType<typeof StartService>>;
  client: ReturnType<typeof CreateClient>;
  clock: FakeClockClass;
  close(): Promise<void>;
}

async function importFrom<T>(dist: string, path: string): Promise<T> {
  return (await import(pathToFileURL(join(dist, path)).href)) as T;
}

/**
 * `startService` of the build in `dist` (another checkout's, to compare), as `cronplane serve`
 * wires it: SQLite in a temporary folder on its threads, the machine's NATS (NATS_URL), its clock
 * a FakeClock at `t0` that only the caller moves (fire-path, fire-burst).
 */
export async function startFakeClockService(dist: string, t0: number, label: string): Promise<FakeClockService> {
  const { startService } = await importFrom<{ startService: typeof StartService }>(dist, 'src/main.js');
  const { loadConfig } = await importFrom<{ loadConfig: typeof LoadConfig }>(dist, 'src/config/config.js');
  const { FakeClock } = await importFrom<{ FakeClock: typeof FakeClockClass }>(dist, 'src/engine/fake-clock.js');
  const { createSchedulerClient } = await importFrom<{ createSchedulerClient: typeof CreateClient }>(dist, 'src/client/scheduler-client.js');
  const dir = mkdtempSync(join(tmpdir(), `cronplane-${label}-`));
  const clock = new FakeClock(t0);
  const config = loadConfig([], {
    CRONPLANE_GRPC_ADDR: `127.0.0.1:${await freePort()}`,
    CRONPLANE_HTTP_ADDR: `127.0.0.1:${await freePort()}`,
    CRONPLANE_STORE: `sqlite:${join(dir, 'cronplane.db')}`,
    CRONPLANE_NATS_URL: process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222',
    CRONPLANE_SUBJECT_PREFIX: `cpbench${process.pid}`,
    CRONPLANE_NODE_NAME: 'bench',
    CRONPLANE_SHUTDOWN_GRACE: '1s',
  });
  const service = await startService(config, { clock, log: pino({ level: 'warn' }) });
  const client = createSchedulerClient(`127.0.0.1:${service.grpcPort}`);
  return {
    service,
    client,
    clock,
    close: async () => {
      client.close();
      await service.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `tasks` per-second nats_publish tasks named `<prefix>-<i>`, publishing on `subject`, none firing before `start`. */
export async function createPerSecondTasks(client: FakeClockService['client'], tasks: number, prefix: string, subject: string, start: number): Promise<void> {
  const created = await runLoad(
    (i) => client.createTask({ task: { ...publishTask(`${prefix}-${i}`, '* * * * * *', subject), startTime: timestampFromMs(start) } }),
    { concurrency: 64, maxOps: tasks, maxMs: 600_000 },
  );
  if (created.ops !== tasks || created.errors > 0) throw new Error(`created ${created.ops} of ${tasks} tasks: ${created.firstError}`);
}
