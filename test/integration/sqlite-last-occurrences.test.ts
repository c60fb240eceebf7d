import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Execution, Trigger } from '../../src/domain/execution.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { pendingExecution } from '../helpers/executions.js';

const T0 = Date.UTC(2025, 0, 1, 0, 0, 0);
let n = 0;

function execution(taskName: string, scheduledTime: number, trigger: Trigger): Execution {
  n += 1;
  return pendingExecution({ id: `exec-${n}`, taskName, scheduledTime, trigger });
}

test('lastOccurrences and lastExecutions answer for many tasks at once, as lastOccurrence and lastExecution do one by one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cronplane-last-occurrences-'));
  const store = SqliteStore.open(join(dir, 'cronplane.db'));
  try {
    const rows: Array<[string, number, Trigger]> = [
      ['a', T0 + 60_000, 'SCHEDULE'], ['a', T0, 'CATCHUP'], ['a', T0 + 90_000, 'MANUAL'],
      ['b', T0 + 999_000, 'SCHEDULE'], ['only-manual', T0 + 5, 'MANUAL'], ['c', T0 + 7, 'CATCHUP'],
    ];
    for (const [task, at, trigger] of rows) {
      await store.recordExecution(execution(task, at, trigger), { id: `ev-${task}-${at}`, time: T0 }, { claim: trigger !== 'MANUAL' });
    }
    const all = await store.lastOccurrences();
    assert.deepEqual(Object.fromEntries(all), { a: T0 + 60_000, b: T0 + 999_000, c: T0 + 7 });
    for (const task of ['a', 'b', 'c', 'only-manual', 'none']) {
      assert.equal(all.get(task), await store.lastOccurrence(task), `same answer as lastOccurrence for ${task}`);
    }
    const page = await store.lastExecutions(['a', 'none', 'only-manual', 'b']);
    assert.deepEqual([...page.keys()], ['a', 'only-manual', 'b'], 'tasks without an execution are absent');
    for (const [task, e] of page) assert.deepEqual(e, await store.lastExecution(task), `same answer as lastExecution for ${task}`);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
