import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { Args } from './lib/args.js';
import { report } from './lib/children.js';
import { scaleTask } from './lib/scale-task.js';

/**
 * Child process: writes tasks straight into a cronplane SQLite file with SqliteStore.createTask,
 * `--batch` submitted at once: the store's writer thread commits them up to 1,000 per
 * transaction. Every task is built and validated exactly as CreateTask would.
 */
const args = new Args();
const dbPath = args.string('db', '');
const from = args.number('from', 0);
const count = args.number('count', 1000);
const batch = args.number('batch', 10_000);
const subject = args.string('subject', 'cpbench.scale.fire');
const startTime = args.number('start-time', Date.now() + 86_400_000);
if (dbPath === '') throw new Error('--db is required');

async function main(): Promise<void> {
  const store = SqliteStore.open(dbPath);
  const t0 = performance.now();
  let written = 0;
  for (let start = from; start < from + count; start += batch) {
    const end = Math.min(from + count, start + batch);
    const now = Date.now();
    const pending: Promise<void>[] = [];
    for (let i = start; i < end; i++) pending.push(store.createTask(scaleTask(i, now, startTime, subject)));
    await Promise.all(pending);
    written += end - start;
    if (written % 100_000 === 0) report({ progress: written, ms: performance.now() - t0 });
  }
  await store.close();
  report({ done: true, written, ms: performance.now() - t0 });
}

main().catch((err) => {
  process.stderr.write(`scale-seed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
