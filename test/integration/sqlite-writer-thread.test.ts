import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { UnavailableError } from '../../src/domain/errors.js';
import type { Execution } from '../../src/domain/execution.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { pendingExecution } from '../helpers/executions.js';

const T0 = Date.UTC(2025, 0, 1, 0, 0, 0);

function execution(i: number): Execution {
  return pendingExecution({ id: `exec-${i}`, taskName: `task-${i % 50}`, scheduledTime: T0 + i * 1000, error: 'x'.repeat(500) });
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'cronplane-writer-thread-'));
}

test('writes commit on the writer thread while the event loop is busy; close leaves no WAL and the file has them all', async () => {
  const dir = tempDir();
  const file = join(dir, 'cronplane.db');
  try {
    const store = SqliteStore.open(file);
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 3000; i++) writes.push(store.recordExecution(execution(i), { id: `ev-${i}`, time: T0 }, { claim: true }));
    await nextTurn(); // posted to the writer thread
    // Hold the event loop and watch the file through a connection of our own: the rows can only
    // appear if something other than this thread writes them.
    const observer = new Database(file, { readonly: true });
    const count = observer.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM executions');
    let seen = 0;
    for (const deadline = Date.now() + 20_000; seen < 3000 && Date.now() < deadline; ) seen = count.get()!.n;
    observer.close();
    assert.equal(seen, 3000, 'every write committed while this thread never yielded');
    const sequences = (await Promise.all(writes)) as Array<{ sequence: number } | undefined>;
    assert.deepEqual(sequences.map((e) => e?.sequence), Array.from({ length: 3000 }, (_, i) => i + 1), 'in submission order');
    assert.equal(await store.outboxSize(), 3000, 'the counts come back with the batches');
    await store.close();
    assert.equal(existsSync(`${file}-wal`), false, 'the last connection to close checkpoints and removes the WAL');

    const reopened = SqliteStore.open(file);
    try {
      assert.equal((await reopened.getExecution('exec-2999'))?.error, 'x'.repeat(500));
      assert.equal((await reopened.listExecutions({ taskName: 'task-7', states: [], limit: 1000, beforeKey: '' })).executions.length, 60);
      assert.equal(await reopened.outboxSize(), 3000);
    } finally {
      await reopened.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a start and its end in one write on the writer thread: two events in order, refused together once the execution ended otherwise', async () => {
  const dir = tempDir();
  const file = join(dir, 'cronplane.db');
  try {
    const store = SqliteStore.open(file);
    const pending = execution(1);
    await store.recordExecution(pending, { id: 'ev-claim', time: T0 }, { claim: true });
    const attempt = { number: 1, startTime: T0, endTime: undefined, state: 'RUNNING' as const, error: '' };
    const running: Execution = { ...pending, state: 'RUNNING', attempt: 1, startTime: T0, attempts: [attempt] };
    const succeeded: Execution = { ...running, state: 'SUCCEEDED', endTime: T0 + 1, attempts: [{ ...attempt, state: 'SUCCEEDED', endTime: T0 + 1 }] };
    const events = await store.recordTwoChanges({ execution: running, event: { id: 'ev-run', time: T0 } }, { execution: succeeded, event: { id: 'ev-end', time: T0 + 1 } });
    assert.deepEqual(events?.map((e) => [e.sequence, e.id, e.execution.state]), [[2, 'ev-run', 'RUNNING'], [3, 'ev-end', 'SUCCEEDED']]);
    const retried = await store.recordTwoChanges({ execution: running, event: { id: 'ev-run-again', time: T0 } }, { execution: succeeded, event: { id: 'ev-end-again', time: T0 + 1 } });
    assert.equal(retried, undefined, 'a pair whose end is stored already (a retry of a write that landed) is refused: no RUNNING after the end');
    const other = execution(2);
    await store.recordExecution(other, { id: 'ev-claim-2', time: T0 }, { claim: true });
    await store.recordExecution({ ...other, state: 'CANCELLED' }, { id: 'ev-cancel-2', time: T0 });
    const refused = await store.recordTwoChanges(
      { execution: { ...other, state: 'RUNNING' }, event: { id: 'ev-run-2', time: T0 } },
      { execution: { ...other, state: 'SUCCEEDED' }, event: { id: 'ev-end-2', time: T0 } },
    );
    assert.equal(refused, undefined);
    assert.equal(await store.outboxSize(), 5, 'two claims, one cancel and the two changes: nothing of the refused pair');
    // A pair for an execution with no row yet: the row goes in as the later change.
    const unseen = execution(3);
    const pair = await store.recordTwoChanges(
      { execution: { ...unseen, state: 'RUNNING' }, event: { id: 'ev-run-3', time: T0 } },
      { execution: { ...unseen, state: 'FAILED', error: 'boom' }, event: { id: 'ev-end-3', time: T0 } },
    );
    assert.deepEqual(pair?.map((e) => [e.sequence, e.execution.state]), [[6, 'RUNNING'], [7, 'FAILED']]);
    assert.equal((await store.getExecution('exec-3'))?.error, 'boom');
    await store.close();

    const db = new Database(file, { readonly: true });
    try {
      const rows = db.prepare<[], { sequence: number; id: string; state: string }>("SELECT sequence, id, json_extract(execution, '$.state') AS state FROM events ORDER BY sequence").all();
      assert.deepEqual(rows.map((r) => [r.sequence, r.id, r.state]), [
        [1, 'ev-claim', 'PENDING'],
        [2, 'ev-run', 'RUNNING'],
        [3, 'ev-end', 'SUCCEEDED'],
        [4, 'ev-claim-2', 'PENDING'],
        [5, 'ev-cancel-2', 'CANCELLED'],
        [6, 'ev-run-3', 'RUNNING'],
        [7, 'ev-end-3', 'FAILED'],
      ]);
      assert.deepEqual(db.prepare<[], { id: string; state: string }>('SELECT id, state FROM executions ORDER BY id').all().map((r) => [r.id, r.state]), [
        ['exec-1', 'SUCCEEDED'],
        ['exec-2', 'CANCELLED'],
        ['exec-3', 'FAILED'],
      ]);
    } finally {
      db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a store nobody closes does not keep its process alive, and what it wrote is in the file', () => {
  const dir = tempDir();
  const file = join(dir, 'cronplane.db');
  try {
    const storeModule = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/store/sqlite/sqlite-store.js');
    const script = `
      const { SqliteStore } = await import(${JSON.stringify(pathToFileURL(storeModule).href)});
      const store = SqliteStore.open(${JSON.stringify(file)});
      const e = { id: 'x', taskName: 't', scheduledTime: 1, startTime: undefined, endTime: undefined, state: 'PENDING',
        attempt: 0, trigger: 'SCHEDULE', error: '', node: 'n', attempts: [], output: '' };
      await store.recordExecution(e, { id: 'ev', time: 1 }, { claim: true });
      process.stdout.write('written\\n');
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(child.error, undefined, 'the child exited by itself (no timeout)');
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout, 'written\n');
    const db = new Database(file, { readonly: true });
    try {
      assert.equal(db.prepare<[], { state: string }>("SELECT state FROM executions WHERE id = 'x'").get()?.state, 'PENDING');
    } finally {
      db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('if the writer thread dies, writes fail UNAVAILABLE, the store says it is not healthy and logs it, and what was committed stays', async () => {
  const dir = tempDir();
  const file = join(dir, 'cronplane.db');
  try {
    const logged: string[] = [];
    const store = SqliteStore.open(file, { onWriterError: (message) => logged.push(message) });
    await store.recordExecution(execution(1), { id: 'ev-1', time: T0 }, { claim: true });
    assert.equal(store.healthy(), true);
    // Failure injection: end the thread as a crash inside it would.
    const worker = (store as unknown as { writes: { worker: { terminate(): Promise<number> } } }).writes.worker;
    await worker.terminate();
    assert.equal(store.healthy(), false);
    assert.deepEqual(logged, ['sqlite writer thread exited (code 1)'], 'an exit without an error event is logged once');
    await assert.rejects(store.recordExecution(execution(2), { id: 'ev-2', time: T0 }, { claim: true }), UnavailableError);
    assert.equal((await store.getExecution('exec-1'))?.state, 'PENDING', 'reads go on');
    await store.close();
    const reopened = SqliteStore.open(file);
    try {
      assert.equal(reopened.healthy(), true, 'a new process (or open) has a new writer');
      assert.equal((await reopened.recordExecution(execution(2), { id: 'ev-2', time: T0 }, { claim: true }))?.sequence, 2);
    } finally {
      await reopened.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
