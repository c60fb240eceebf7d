import { SharedTaskParts, type Task } from '../src/domain/task.js';
import { compileSchedule, type Schedule } from '../src/domain/schedule.js';
import { taskFromJson, taskToJson } from '../src/store/sqlite/rows.js';
import { Args, isMain } from './lib/args.js';
import { formatTable } from './lib/results.js';
import { mixedSchedule } from './lib/schedules.js';
import { scaleTask } from './lib/scale-task.js';
import { fmt } from './lib/stats.js';

/**
 * Heap per task of what holding N tasks costs, by part, in this process (run with
 * --expose-gc): the Task objects as the SQLite store decodes them (taskFromRow), the same
 * with SharedTaskParts, and the engine's bookkeeping around each task (a map entry, an entry
 * object, a timer-heap slot) as engine.ts keeps it. The scale suite's task mix
 * (bench/lib/schedules.ts). No service, no store file: the figures of each part alone.
 *
 *   node --expose-gc dist/bench/scale-task-heap.js --tasks 200000
 */

const gc = (globalThis as { gc?: () => void }).gc;

function heapUsed(): number {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed;
}

/** Bytes per item of what `make(i)` returns, all N held at once. */
function perItem<T>(n: number, make: (i: number) => T): { bytes: number; held: T[] } {
  const before = heapUsed();
  const held: T[] = new Array(n);
  for (let i = 0; i < n; i++) held[i] = make(i);
  return { bytes: (heapUsed() - before) / n, held };
}

interface EngineEntry {
  task: Task;
  schedule: Schedule;
  lastOccurrence: number | undefined;
}

async function main(): Promise<void> {
  if (gc === undefined) throw new Error('run with --expose-gc');
  const args = new Args();
  const n = args.number('tasks', 200_000);
  const now = Date.now();
  const start = now + 86_400_000;
  const json = Array.from({ length: n }, (_, i) => taskToJson(scaleTask(i, now, start, 'cpbench.scale.fire')));
  for (let i = 0; i < 300; i++) compileSchedule(mixedSchedule(i)); // the shared schedules exist before measuring

  const loaded = perItem(n, (i) => taskFromJson(json[i]!));
  const pool = new SharedTaskParts();
  const shared = perItem(n, (i) => pool.share(taskFromJson(json[i]!)));
  const adopting = new SharedTaskParts();
  const adopted = perItem(n, (i) => adopting.adopt(taskFromJson(json[i]!)));
  // The engine's bookkeeping per task as engine.ts keeps it (tasks map entry + TaskEntry + heap slot), tasks excluded.
  const tasks = shared.held;
  const before = heapUsed();
  const entries = new Map<string, EngineEntry>();
  const heapKeys: string[] = [];
  const heapTimes: number[] = [];
  const heapIndex = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const task = tasks[i]!;
    entries.set(task.name, { task, schedule: compileSchedule(task.schedule), lastOccurrence: undefined });
    heapKeys.push(task.name);
    heapTimes.push(start + i);
    heapIndex.set(task.name, i);
  }
  const engineBytes = (heapUsed() - before) / n;

  process.stdout.write(`${formatTable(['what, per task', 'heap B'], [
    ['Task as taskFromJson decodes it', fmt(loaded.bytes)],
    ['Task with SharedTaskParts.share', fmt(shared.bytes)],
    ['Task with SharedTaskParts.adopt', fmt(adopted.bytes)],
    ['engine bookkeeping (map entry, TaskEntry, heap slot)', fmt(engineBytes)],
  ])}\n`);
  // Keep everything alive until measured.
  if (loaded.held.length + adopted.held.length + entries.size + heapKeys.length + heapTimes.length + heapIndex.size === 0) process.stdout.write('\n');
}

if (isMain(import.meta.url)) {
  main().then(() => process.exit(0), (err) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
