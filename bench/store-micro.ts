import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import type { Execution } from '../src/domain/execution.js';
import { uuidv7 } from '../src/engine/ids.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { Args, isMain } from './lib/args.js';
import { formatTable, writeResult } from './lib/results.js';
import { fmt } from './lib/stats.js';

/**
 * Store micro-benchmark behind the fire path: one execution's three recorded states (PENDING
 * claim, RUNNING, SUCCEEDED) through SqliteStore.recordExecution, each its own transaction as
 * the engine does today, versus the same calls grouped N at a time inside one outer transaction
 * (better-sqlite3 turns the inner ones into savepoints): what a group commit would save. The
 * outbox is acked as publishing would, so the event pruner sees what it sees in the service.
 * Also the bare cost of an empty BEGIN IMMEDIATE/COMMIT. Reaches into the store's private
 * better-sqlite3 handle for the grouping only; src/store is not changed.
 */

export interface StoreMicroResult {
  executions: number;
  perExecutionUs: { separate: number; grouped: Record<string, number> };
  emptyTransactionUs: number;
}

function execution(task: string, at: number): Execution {
  return {
    id: uuidv7(at),
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

/**
 * The three writes of one execution. recordExecution's body is synchronous up to its
 * transaction, so issuing the three calls before awaiting any keeps all of them inside an
 * enclosing transaction when there is one (and changes nothing when there is none).
 */
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

export async function runStoreMicro(executions: number, groups: number[]): Promise<StoreMicroResult> {
  const dir = mkdtempSync(join(tmpdir(), 'cronplane-store-micro-'));
  try {
    const store = SqliteStore.open(join(dir, 'cronplane.db'));
    const db = (store as unknown as { db: Database.Database }).db;
    const tasks = 1000;
    let at = Date.now() - (Date.now() % 1000);
    const next = (i: number) => execution(`t-${i % tasks}`, at + Math.floor(i / tasks) * 1000);

    // Warm-up.
    for (let i = 0; i < 2000; i++) {
      await threeStates(store, next(i), Date.now());
      if (i % 100 === 99) await ack(store);
    }
    at += 1_000_000;

    let t0 = performance.now();
    for (let i = 0; i < executions; i++) {
      await threeStates(store, next(i), Date.now());
      if (i % 100 === 99) await ack(store);
    }
    const separate = ((performance.now() - t0) * 1000) / executions;
    at += 1_000_000_000;

    const grouped: Record<string, number> = {};
    for (const group of groups) {
      t0 = performance.now();
      for (let start = 0; start < executions; start += group) {
        const pending: Promise<unknown>[] = [];
        // The record calls run synchronously up to their store write, so they land inside this transaction.
        db.transaction(() => {
          for (let i = start; i < Math.min(executions, start + group); i++) pending.push(threeStates(store, next(i), Date.now()));
        }).immediate();
        await Promise.all(pending);
        if ((start / group) % Math.max(1, Math.floor(100 / group)) === 0) await ack(store);
      }
      grouped[String(group)] = ((performance.now() - t0) * 1000) / executions;
      at += 1_000_000_000;
    }

    const begin = db.prepare('BEGIN IMMEDIATE');
    const commit = db.prepare('COMMIT');
    t0 = performance.now();
    for (let i = 0; i < 20_000; i++) {
      begin.run();
      commit.run();
    }
    const emptyTransactionUs = ((performance.now() - t0) * 1000) / 20_000;
    await store.close();
    return { executions, perExecutionUs: { separate, grouped }, emptyTransactionUs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function storeMicroTable(r: StoreMicroResult): string {
  const rows = [['3 transactions per execution (today)', fmt(r.perExecutionUs.separate), fmt(1e6 / r.perExecutionUs.separate)]];
  for (const [g, us] of Object.entries(r.perExecutionUs.grouped)) {
    rows.push([`grouped: ${g} executions per transaction`, fmt(us), fmt(1e6 / us)]);
  }
  rows.push(['empty BEGIN IMMEDIATE + COMMIT', fmt(r.emptyTransactionUs), '']);
  return formatTable(['SqliteStore.recordExecution x3 (PENDING, RUNNING, SUCCEEDED)', 'us per execution', 'executions/s (one core)'], rows);
}

async function main(): Promise<void> {
  const args = new Args();
  const r = await runStoreMicro(args.number('executions', 20_000), args.numbers('groups', [10, 100, 1000]));
  const path = writeResult(args.string('out', 'store-micro'), r);
  process.stdout.write(`\nStore write path (recordExecution)\n${storeMicroTable(r)}\n\nwrote ${path}\n`);
}

if (isMain(import.meta.url)) {
  main().then(() => process.exit(0), (err) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
