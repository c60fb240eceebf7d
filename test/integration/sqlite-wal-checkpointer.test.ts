import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import type { Execution } from '../../src/domain/execution.js';
import { BUSY_TIMEOUT_MS, openDatabase } from '../../src/store/sqlite/open-database.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { WalCheckpointer } from '../../src/store/sqlite/wal-checkpointer.js';

const T0 = Date.UTC(2025, 0, 1, 0, 0, 0);

function execution(i: number): Execution {
  return {
    id: `exec-${i}`, taskName: `task-${i % 50}`, scheduledTime: T0 + i * 1000, startTime: undefined, endTime: undefined,
    state: 'PENDING', attempt: 0, trigger: 'SCHEDULE', error: 'x'.repeat(500), node: 'n', attempts: [], output: '',
  };
}

function size(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  for (const start = Date.now(); !check(); await sleep(20)) {
    if (Date.now() - start > timeoutMs) assert.fail(`timed out waiting for ${what}`);
  }
}

test('the store never checkpoints in its own commits; the worker copies the WAL into the file, and close leaves no WAL behind', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cronplane-checkpoint-'));
  const file = join(dir, 'cronplane.db');
  try {
    const store = SqliteStore.open(file);
    const db = (store as unknown as { db: { pragma(s: string, o: { simple: true }): unknown } }).db;
    assert.equal(db.pragma('wal_autocheckpoint', { simple: true }), 0, 'the writing connection does not checkpoint');
    const before = size(file);
    // Several MB of WAL, far past SQLite's own 1000-page autocheckpoint.
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 6000; i++) writes.push(store.recordExecution(execution(i), { id: `ev-${i}`, time: T0 }, { claim: true }));
    await Promise.all(writes);
    assert.ok(size(`${file}-wal`) > 4 * 1024 * 1024, `the WAL holds the writes (${size(`${file}-wal`)} bytes)`);
    await until('the worker to copy the WAL into the database file', () => size(file) > before + 2 * 1024 * 1024);
    await store.close();
    assert.equal(existsSync(`${file}-wal`), false, 'the last connection to close checkpoints and removes the WAL');

    const reopened = SqliteStore.open(file);
    try {
      assert.equal((await reopened.getExecution('exec-5999'))?.error, 'x'.repeat(500), 'every write is in the file');
      assert.equal((await reopened.listExecutions({ taskName: 'task-7', states: [], limit: 1000, beforeKey: '' })).executions.length, 120);
    } finally {
      await reopened.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('under writes that never pause, the WAL is started over once it passes the restart size', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cronplane-checkpoint-restart-'));
  const file = join(dir, 'wal.db');
  const db = openDatabase(file);
  db.exec('CREATE TABLE blobs (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
  const checkpointer = WalCheckpointer.start(db, file, { intervalMs: 10, restartFrames: 256, busyTimeoutMs: BUSY_TIMEOUT_MS });
  try {
    const insert = db.prepare('INSERT INTO blobs (body) VALUES (?)');
    const body = 'y'.repeat(4000);
    let largest = 0;
    // About 40 MB written in small transactions with a turn of the event loop between them.
    for (let i = 0; i < 400; i++) {
      db.transaction(() => {
        for (let j = 0; j < 25; j++) insert.run(body);
      })();
      largest = Math.max(largest, size(`${file}-wal`));
      await sleep(1);
    }
    const written = 400 * 25 * 4000;
    assert.ok(largest < written / 2, `the WAL stayed well below what was written (${largest} of ${written} bytes)`);
    assert.equal((db.prepare('SELECT COUNT(*) AS n FROM blobs').get() as { n: number }).n, 10_000);
  } finally {
    await checkpointer.stop();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
