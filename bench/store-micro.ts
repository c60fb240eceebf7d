import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Execution } from '../src/domain/execution.js';
import { uuidv7 } from '../src/engine/ids.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { Args, isMain } from './lib/args.js';
import { formatTable, writeResult } from './lib/results.js';
import { fmt } from './lib/stats.js';

/**
 * Store micro-benchmark behind the fire path: one execution's three recorded states (PENDING
 * claim, RUNNING, SUCCEEDED) through SqliteStore.recordExecution, 100 executions submitted per
 * turn of the event loop as the engine does under load, the outbox acked as publishing would.
 * Once with the writes on the store's writer thread (the default for a file) and once on the
 * event loop's own connection (`writerThread: false`). Reports wall time per execution (the
 * store's throughput) and the event loop's busy time per execution (what a fire pays on the
 * thread that also runs timers, actions and RPCs); plus an empty BEGIN IMMEDIATE/COMMIT.
 */

export interface StoreMicroResult {
  executions: number;
  tasks: number;
  modes: Array<{ mode: string; wallUsPerExecution: number; eventLoopUsPerExecution: number; writerThreadUsPerExecution?: number }>;
  emptyTransactionUs: number;
}

function execution(task: string, at: number): Execution {
  return {
    // Made now, as the engine makes it (its clock, a moment before `at`): ids of one process
    // come from one monotonic series, which a time seconds ahead would keep restarting.
    id: uuidv7(),
    taskName: task,
    scheduledTime: at,
    startTime: undefined,
    endTime: undefined,
    state: 'PENDING',
    attempt: 0,
    trigger: 'SCHEDULE',
    error: '',
    node: 'bench',
    attempts: [],
    output: '',
  };
}

/** The three writes of one execution, submitted in one turn. */
function threeStates(store: SqliteStore, exec: Execution, now: number): Promise<unknown> {
  const pending: Promise<unknown>[] = [];
  pending.push(store.recordExecution(structuredClone(exec), { id: uuidv7(now), time: now }, { claim: true }));
  exec.state = 'RUNNING';
  exec.attempt = 1;
  exec.startTime = now;
  exec.attempts.push({ number: 1, startTime: now, endTime: undefined, state: 'RUNNING', error: '' });
  pending.push(store.recordExecution(structuredClone(exec), { id: uuidv7(now), time: now }));
  exec.state = 'SUCCEEDED';
  exec.endTime = now;
  exec.attempts[0]!.state = 'SUCCEEDED';
  exec.attempts[0]!.endTime = now;
  pending.push(store.recordExecution(structuredClone(exec), { id: uuidv7(now), time: now }));
  return Promise.all(pending);
}

/** Publishing acks the outbox as the service does (every 100 executions here). */
async function ack(store: SqliteStore): Promise<void> {
  const batch = await store.pendingOutbox(1000);
  await store.ackOutbox(batch.map((e) => e.sequence));
}

const CHUNK = 100;

async function measure(path: string, executions: number, tasks: number, writerThread: boolean) {
  const store = SqliteStore.open(path, { writerThread });
  try {
    const at = Date.now() - (Date.now() % 1000) + (writerThread ? 0 : 1e12);
    const next = (i: number) => execution(`t-${i % tasks}`, at + Math.floor(i / tasks) * 1000);
    const run = async (from: number, count: number) => {
      for (let start = from; start < from + count; start += CHUNK) {
        const pending: Promise<unknown>[] = [];
        for (let i = start; i < Math.min(from + count, start + CHUNK); i++) pending.push(threeStates(store, next(i), Date.now()));
        await Promise.all(pending);
        await ack(store);
      }
    };
    await run(0, 2000); // warm-up
    const elu0 = performance.eventLoopUtilization();
    const writer0 = store.writerBusySeconds();
    const t0 = performance.now();
    await run(2000, executions);
    const wall = performance.now() - t0;
    const elu = performance.eventLoopUtilization(elu0);
    const writer = store.writerBusySeconds();
    return {
      wallUsPerExecution: (wall * 1000) / executions,
      eventLoopUsPerExecution: (elu.active * 1000) / executions,
      // The writer thread's own busy time: what limits fires per second once it is saturated.
      writerThreadUsPerExecution: writer === undefined || writer0 === undefined ? undefined : ((writer - writer0) * 1e6) / executions,
    };
  } finally {
    await store.close();
  }
}

/** `tasks`: executions go round this many tasks, one a second each (as per-second schedules would). */
export async function runStoreMicro(executions: number, tasks = 1000): Promise<StoreMicroResult> {
  const dir = mkdtempSync(join(tmpdir(), 'cronplane-store-micro-'));
  try {
    const modes: StoreMicroResult['modes'] = [];
    modes.push({ mode: 'writer thread (default for a file)', ...(await measure(join(dir, 'thread.db'), executions, tasks, true)) });
    modes.push({ mode: 'on the event loop (writerThread: false)', ...(await measure(join(dir, 'loop.db'), executions, tasks, false)) });

    const db = new Database(join(dir, 'empty.db'));
    const begin = db.prepare('BEGIN IMMEDIATE');
    const commit = db.prepare('COMMIT');
    const t0 = performance.now();
    for (let i = 0; i < 20_000; i++) {
      begin.run();
      commit.run();
    }
    const emptyTransactionUs = ((performance.now() - t0) * 1000) / 20_000;
    db.close();
    return { executions, tasks, modes, emptyTransactionUs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function storeMicroTable(r: StoreMicroResult): string {
  const rows = r.modes.map((m) => [
    m.mode,
    fmt(m.wallUsPerExecution),
    fmt(1e6 / m.wallUsPerExecution),
    fmt(m.eventLoopUsPerExecution),
    m.writerThreadUsPerExecution === undefined ? '' : fmt(m.writerThreadUsPerExecution),
  ]);
  rows.push(['empty BEGIN IMMEDIATE + COMMIT', fmt(r.emptyTransactionUs), '', '', '']);
  return formatTable(
    ['SqliteStore.recordExecution x3 (PENDING, RUNNING, SUCCEEDED)', 'wall us per execution', 'executions/s', 'event-loop us per execution', 'writer-thread us per execution'],
    rows,
  );
}

async function main(): Promise<void> {
  const args = new Args();
  const r = await runStoreMicro(args.number('executions', 20_000), args.number('tasks', 1000));
  const path = writeResult(args.string('out', 'store-micro'), r);
  process.stdout.write(`\nStore write path (recordExecution)\n${storeMicroTable(r)}\n\nwrote ${path}\n`);
}

if (isMain(import.meta.url)) {
  main().then(() => process.exit(0), (err) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
