import { getHeapStatistics } from 'node:v8';
import { loadConfig } from '../src/config/config.js';
import { startService } from '../src/main.js';
import { Args } from './lib/args.js';
import { report } from './lib/children.js';

/**
 * Child process (run with --expose-gc): the whole service in-process on an existing SQLite
 * file, so heap figures come from process.memoryUsage() after a full GC, which a
 * `cronplane serve` child cannot report. Prints one JSON line and exits.
 */

const args = new Args();
const dbPath = args.string('db', '');
const settleMs = args.number('settle-ms', 3_000);
const gc = (globalThis as { gc?: () => void }).gc;

async function main(): Promise<void> {
  if (gc === undefined) throw new Error('run with --expose-gc');
  gc();
  const before = process.memoryUsage();
  const config = loadConfig([], {
    CRONPLANE_GRPC_ADDR: '127.0.0.1:0',
    CRONPLANE_HTTP_ADDR: '127.0.0.1:0',
    CRONPLANE_STORE: `sqlite:${dbPath}`,
    CRONPLANE_NATS_URL: args.string('nats', 'nats://127.0.0.1:4222'),
    CRONPLANE_SUBJECT_PREFIX: `cpbenchheap${process.pid}`,
    CRONPLANE_NODE_NAME: 'bench-heap',
    CRONPLANE_LOG_LEVEL: 'silent',
    CRONPLANE_SHUTDOWN_GRACE: '1s',
  });
  const t0 = performance.now();
  const service = await startService(config);
  const startupMs = performance.now() - t0;
  await new Promise((r) => setTimeout(r, settleMs));
  gc();
  gc();
  const after = process.memoryUsage();
  const heap = getHeapStatistics();
  await service.stop();
  report({
    done: true,
    startupMs,
    heapUsedMiB: after.heapUsed / 2 ** 20,
    heapTotalMiB: after.heapTotal / 2 ** 20,
    externalMiB: after.external / 2 ** 20,
    arrayBuffersMiB: after.arrayBuffers / 2 ** 20,
    rssMiB: after.rss / 2 ** 20,
    heapUsedBeforeStartMiB: before.heapUsed / 2 ** 20,
    heapLimitMiB: heap.heap_size_limit / 2 ** 20,
  });
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`scale-heap-child: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
