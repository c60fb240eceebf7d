import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import {
  EtagMismatchError,
  InvalidArgumentError,
  TaskAlreadyExistsError,
  TaskNotFoundError,
  UnavailableError,
} from '../../src/domain/errors.js';
import type { Execution, ExecutionState } from '../../src/domain/execution.js';
import { EMPTY_TASK_FILTER, type TaskFilter } from '../../src/domain/task-filter.js';
import { emptyTaskSpec, taskPlanOf, type Task } from '../../src/domain/task.js';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src/store/sqlite/schema.js';
import { executionToJson, taskToJson } from '../../src/store/sqlite/rows.js';
import { SqliteStore, type SqliteStoreOptions } from '../../src/store/sqlite/sqlite-store.js';
import { pendingExecution } from '../helpers/executions.js';

const T0 = Date.UTC(2025, 0, 1, 0, 0, 0);

let root = '';
let fileCounter = 0;

before(() => {
  root = mkdtempSync(join(tmpdir(), 'cronplane-sqlite-store-'));
});

after(() => {
  rmSync(root, { recursive: true, force: true });
});

function freshPath(): string {
  fileCounter += 1;
  return join(root, `db-${fileCounter}`, 'cronplane.db');
}

/** Open a store on a fresh file; the test closes it (closing twice is harmless). */
function openFresh(options?: SqliteStoreOptions): { store: SqliteStore; path: string } {
  const path = freshPath();
  return { store: SqliteStore.open(path, options), path };
}

function makeTask(name: string, overrides: Partial<Task> = {}): Task {
  return {
    ...emptyTaskSpec(name),
    schedule: { cron: '*/5 * * * *', timeZone: '' },
    action: {
      kind: 'natsPublish',
      subject: `jobs.${name}`,
      payload: new Uint8Array([1, 2, 3]),
      headers: { 'x-team': 'core' },
      jetstream: false,
    },
    pausedReason: '',
    createTime: T0,
    updateTime: T0,
    etag: 'etag-1',
    runCount: 0,
    consecutiveFailures: 0,
    createdBy: 'tester',
    updatedBy: 'tester',
    scheduleAnchor: T0,
    createRequestId: '',
    ...overrides,
  };
}

let executionCounter = 0;

function makeExecution(overrides: Partial<Execution> & { taskName: string; scheduledTime: number }): Execution {
  executionCounter += 1;
  return pendingExecution({ id: `exec-${String(executionCounter).padStart(6, '0')}`, node: 'node-a', ...overrides });
}

let eventCounter = 0;

function eventMeta(time = T0): { id: string; time: number } {
  eventCounter += 1;
  return { id: `event-${eventCounter}`, time };
}

async function listAllTasks(store: SqliteStore, filter: TaskFilter, pageSize: number): Promise<string[]> {
  const names: string[] = [];
  let afterName = '';
  for (;;) {
    const page = await store.listTasks({ afterName, limit: pageSize, filter });
    names.push(...page.map((t) => t.name));
    if (page.length < pageSize) return names;
    afterName = page[page.length - 1]!.name;
  }
}

async function listAllExecutions(
  store: SqliteStore,
  query: { taskName?: string; states?: ExecutionState[] },
  pageSize: number,
): Promise<string[]> {
  const ids: string[] = [];
  let beforeKey = '';
  for (let pages = 0; pages < 1000; pages++) {
    const page = await store.listExecutions({
      taskName: query.taskName ?? '',
      states: query.states ?? [],
      limit: pageSize,
      beforeKey,
    });
    assert.ok(page.executions.length <= pageSize);
    ids.push(...page.executions.map((e) => e.id));
    if (page.nextKey === '') return ids;
    assert.equal(page.executions.length, pageSize, 'a page with a next key is full');
    beforeKey = page.nextKey;
  }
  throw new Error('pagination did not end');
}

/** A new file migrated only up to schema version `version` (what an older cronplane left). */
function fileAtVersion(version: number, options?: { wal?: boolean }): { path: string; db: Database.Database } {
  const path = freshPath();
  mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  if (options?.wal === true) db.pragma('journal_mode = WAL');
  for (let v = 0; v < version; v++) {
    db.exec(MIGRATIONS[v]!);
    db.pragma(`user_version = ${v + 1}`);
  }
  return { path, db };
}

describe('SqliteStore: opening', () => {
  test('creates the parent directory, uses WAL and records the schema version', async () => {
    const path = join(root, 'nested', 'deeper', 'store.db');
    const store = SqliteStore.open(path);
    await store.close();
    assert.ok(existsSync(path));
    const db = new Database(path, { readonly: true });
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    } finally {
      db.close();
    }
  });

  test('refuses a file written by a newer schema', () => {
    const path = freshPath();
    SqliteStore.open(path).close();
    const db = new Database(path);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    assert.throws(() => SqliteStore.open(path), /newer/);
  });

  test('a file of schema version 4 keeps its claims when the two per-task indexes become one', async () => {
    const { path, db: old } = fileAtVersion(4);
    const insert = old.prepare("INSERT INTO executions (id, task_name, scheduled_time, trigger, state, json) VALUES (?, 'a', ?, ?, 'SUCCEEDED', ?)");
    const stored = (id: string, at: number, trigger: string) =>
      executionToJson({ ...pendingExecution({ id, taskName: 'a', scheduledTime: at }), trigger: trigger as Execution['trigger'], state: 'SUCCEEDED' });
    insert.run('s-1', T0, 'SCHEDULE', stored('s-1', T0, 'SCHEDULE'));
    insert.run('m-1', T0, 'MANUAL', stored('m-1', T0, 'MANUAL'));
    insert.run('m-2', T0, 'MANUAL', stored('m-2', T0, 'MANUAL'));
    old.close();
    const store = SqliteStore.open(path);
    try {
      assert.equal(await store.recordExecution(makeExecution({ taskName: 'a', scheduledTime: T0 }), eventMeta(), { claim: true }), undefined, 'the instant stays claimed');
      assert.ok(await store.recordExecution(makeExecution({ taskName: 'a', scheduledTime: T0 + 1, trigger: 'MANUAL' }), eventMeta(), { claim: true }));
      assert.ok(await store.recordExecution(makeExecution({ taskName: 'a', scheduledTime: T0 + 1, trigger: 'MANUAL' }), eventMeta(), { claim: true }), 'manual runs at one instant');
      assert.equal(await store.lastOccurrence('a'), T0);
      assert.deepEqual(await listAllExecutions(store, { taskName: 'a' }, 2), await listAllExecutions(store, {}, 5), 'one task pages as all tasks do');
    } finally {
      await store.close();
    }
    const check = new Database(path, { readonly: true });
    try {
      const indexes = check.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'executions' AND sql IS NOT NULL ORDER BY name").pluck().all();
      assert.deepEqual(indexes, ['executions_state_time', 'executions_task', 'executions_time']);
    } finally {
      check.close();
    }
  });

  test('a file of schema version 3 keeps every run count (moved out of the task JSON)', async () => {
    const { path, db: old } = fileAtVersion(3);
    const insertTask = old.prepare("INSERT INTO tasks (name, state, etag, labels, json) VALUES (?, 'ENABLED', 'e1', '{}', ?)");
    insertTask.run('counted', taskToJson(makeTask('counted', { etag: 'e1', runCount: 12 })));
    insertTask.run('never', taskToJson(makeTask('never', { etag: 'e1' })));
    old.close();
    const store = SqliteStore.open(path);
    try {
      assert.equal((await store.getTask('counted'))?.runCount, 12);
      assert.equal((await store.getTask('never'))?.runCount, 0);
      await store.addRunCount('counted');
      await store.addRunCount('never');
      assert.deepEqual((await store.allTasks()).map((t) => t.runCount), [13, 1]);
    } finally {
      await store.close();
    }
  });

  test('a file of schema version 5 gets every task\'s plan (what a start reads instead of the JSON)', async () => {
    const { path, db: old } = fileAtVersion(5);
    const insertTask = old.prepare('INSERT INTO tasks (name, state, etag, labels, json) VALUES (?, ?, ?, ?, ?)');
    const tasks = [
      makeTask('bounded', { etag: 'e1', schedule: { cron: '0 9 * * MON-FRI', timeZone: 'Europe/Berlin' }, startTime: T0, endTime: T0 + 86_400_000, maxRuns: 5, misfirePolicy: 'RUN_ALL', catchupWindowMs: 5_000 }),
      makeTask('paused', { etag: 'e2', state: 'PAUSED', misfirePolicy: 'SKIP' }),
    ];
    for (const t of tasks) insertTask.run(t.name, t.state, t.etag, '{}', taskToJson(t));
    old.prepare('INSERT INTO task_runs (name, run_count) VALUES (?, ?)').run('bounded', 3);
    old.close();
    const store = SqliteStore.open(path);
    try {
      assert.deepEqual(await store.allTaskPlans(), [taskPlanOf({ ...tasks[0]!, runCount: 3 }), taskPlanOf(tasks[1]!)]);
    } finally {
      await store.close();
    }
  });

  test('rejects nonsensical options', () => {
    assert.throws(() => SqliteStore.open(freshPath(), { historyPerTask: 0 }), RangeError);
    assert.throws(() => SqliteStore.open(freshPath(), { eventRetention: -1 }), RangeError);
  });

  test('after close every call rejects with UnavailableError; close is idempotent', async () => {
    const { store } = openFresh();
    await store.createTask(makeTask('a'));
    await store.close();
    await store.close();
    await assert.rejects(store.getTask('a'), UnavailableError);
    await assert.rejects(store.createTask(makeTask('b')), UnavailableError);
    await assert.rejects(store.outboxSize(), UnavailableError);
    await assert.rejects(
      store.recordExecution(makeExecution({ taskName: 'a', scheduledTime: T0 }), eventMeta()),
      UnavailableError,
    );
  });
});

describe('SqliteStore: tasks', () => {
  test('create, get, count, all, duplicate', async () => {
    const { store } = openFresh();
    try {
      assert.equal(await store.getTask('a'), undefined);
      await store.createTask(makeTask('b'));
      await store.createTask(makeTask('a', { description: 'first' }));
      assert.deepEqual(await store.getTask('a'), makeTask('a', { description: 'first' }));
      await assert.rejects(store.createTask(makeTask('a', { description: 'again' })), TaskAlreadyExistsError);
      assert.equal((await store.getTask('a'))!.description, 'first', 'a failed create changes nothing');
      assert.equal(await store.countTasks(), 2);
      assert.deepEqual(
        (await store.allTasks()).map((t) => t.name),
        ['a', 'b'],
      );
    } finally {
      await store.close();
    }
  });

  test('allTaskPlans follows every task write: the plan of each task as allTasks reads it', async () => {
    const { store } = openFresh();
    const plansOfAll = async () => (await store.allTasks()).map(taskPlanOf);
    try {
      await store.createTask(makeTask('a', { etag: 'e1', startTime: T0, maxRuns: 2 }));
      await store.createTask(makeTask('b', { etag: 'e1', schedule: { cron: '*/5 * * * * *', timeZone: 'America/New_York' } }));
      await store.createTask(makeTask('c', { etag: 'e1' }));
      assert.deepEqual(await store.allTaskPlans(), await plansOfAll());
      await store.replaceTask(makeTask('a', { etag: 'e2', state: 'PAUSED', endTime: T0 + 1, startTime: undefined, misfirePolicy: 'SKIP', catchupWindowMs: 1, scheduleAnchor: T0 + 5 }), 'e1');
      await store.addRunCount('b');
      await store.addRunCount('b');
      await store.deleteTask('c');
      await assert.rejects(store.replaceTask(makeTask('b', { etag: 'e3', maxRuns: 9 }), 'stale'), EtagMismatchError);
      const plans = await store.allTaskPlans();
      assert.deepEqual(plans, await plansOfAll());
      assert.deepEqual(plans.map((p) => [p.name, p.state, p.runCount]), [['a', 'PAUSED', 0], ['b', 'ENABLED', 2]]);
    } finally {
      await store.close();
    }
  });

  test('replaceTask checks the etag and tells not-found from stale', async () => {
    const { store } = openFresh();
    try {
      await store.createTask(makeTask('a', { etag: 'e1' }));
      const updated = makeTask('a', { etag: 'e2', description: 'changed', state: 'PAUSED', labels: { env: 'prod' } });
      await store.replaceTask(updated, 'e1');
      assert.deepEqual(await store.getTask('a'), updated);

      await assert.rejects(store.replaceTask(makeTask('a', { etag: 'e3', description: 'lost' }), 'e1'), EtagMismatchError);
      assert.deepEqual(await store.getTask('a'), updated, 'a stale replace writes nothing');
      await assert.rejects(store.replaceTask(makeTask('missing', { etag: 'e2' }), 'e1'), TaskNotFoundError);

      // the columns the filters use follow the replacement
      assert.deepEqual(
        (await store.listTasks({ afterName: '', limit: 10, filter: { state: 'PAUSED', labels: { env: 'prod' } } })).map(
          (t) => t.name,
        ),
        ['a'],
      );
    } finally {
      await store.close();
    }
  });

  test('addRunCount adds one to the run count and nothing else: same etag, no task event; a missing task is ignored', async () => {
    const { store } = openFresh();
    try {
      const task = makeTask('a', { etag: 'e1', runCount: 41, labels: { env: 'prod' } });
      await store.createTask(task);
      await store.ackTaskOutbox((await store.pendingTaskOutbox(10)).map((e) => e.sequence));
      await Promise.all([store.addRunCount('a'), store.addRunCount('a'), store.addRunCount('missing')]);
      assert.deepEqual(await store.getTask('a'), { ...task, runCount: 43 });
      assert.deepEqual(await store.pendingTaskOutbox(10), [], 'a run count is not a task change');
      await store.replaceTask({ ...task, runCount: 43, description: 'changed', etag: 'e2' }, 'e1');
      await store.addRunCount('a');
      assert.equal((await store.getTask('a'))?.runCount, 44);
      assert.equal(await store.getTask('missing'), undefined);
    } finally {
      await store.close();
    }
  });

  test('every read of a task carries its run count, and a count never outlives its task', async () => {
    const { store, path } = openFresh();
    try {
      await store.createTask(makeTask('a', { etag: 'e1', runCount: 2 }));
      await store.createTask(makeTask('b', { etag: 'e1' }));
      await store.addRunCount('a');
      await store.addRunCount('b');
      assert.deepEqual((await store.listTasks({ afterName: '', limit: 10, filter: EMPTY_TASK_FILTER })).map((t) => t.runCount), [3, 1]);
      assert.deepEqual((await store.allTasks()).map((t) => t.runCount), [3, 1]);
      await store.replaceTask(makeTask('a', { etag: 'e2', runCount: 0 }), 'e1');
      assert.equal((await store.getTask('a'))?.runCount, 0, 'a replace sets the count, as for every store');
      await store.deleteTask('b');
      await store.addRunCount('b'); // a count that arrives after the delete
      await store.addRunCount('ghost'); // and one for a task that never was
      const look = new Database(path, { readonly: true });
      try {
        assert.deepEqual(look.prepare('SELECT name FROM task_runs').all(), [], 'no count row without its task, none for 0');
      } finally {
        look.close();
      }
      await store.createTask(makeTask('b', { etag: 'e3' }));
      assert.equal((await store.getTask('b'))?.runCount, 0, 'a task created again starts from its own count');
      await store.close();
      const reopened = SqliteStore.open(path);
      try {
        assert.deepEqual((await reopened.allTasks()).map((t) => [t.name, t.runCount]), [['a', 0], ['b', 0]]);
      } finally {
        await reopened.close();
      }
    } finally {
      await store.close();
    }
  });

  test('deleteTask with and without an etag', async () => {
    const { store } = openFresh();
    try {
      await store.createTask(makeTask('a', { etag: 'e1' }));
      await store.createTask(makeTask('b', { etag: 'e1' }));
      await assert.rejects(store.deleteTask('a', 'stale'), EtagMismatchError);
      assert.ok(await store.getTask('a'));
      await store.deleteTask('a', 'e1');
      assert.equal(await store.getTask('a'), undefined);
      await assert.rejects(store.deleteTask('a'), TaskNotFoundError);
      await assert.rejects(store.deleteTask('a', 'e1'), TaskNotFoundError);
      await store.deleteTask('b', '');
      assert.equal(await store.countTasks(), 0);
    } finally {
      await store.close();
    }
  });

  test('listTasks pages in name order and filters by state, prefix and labels', async () => {
    const { store } = openFresh();
    try {
      const specs: Array<[string, Partial<Task>]> = [
        ['alpha', { labels: { env: 'prod', team: 'core' } }],
        ['alpha-2', { state: 'PAUSED', labels: { env: 'prod' } }],
        ['alpha_3', { labels: { env: 'dev', team: 'core' } }],
        ['alphabet', { labels: { 'a.b': 'dotted', 'say "hi"': 'quoted' } }],
        ['beta', { state: 'PAUSED', labels: { env: 'prod', team: 'core' } }],
        ['beta0', { labels: {} }],
        ['gamma', { labels: { env: 'prod' } }],
        ['gamma1', { labels: { env: '1' } }],
        ['zeta', { labels: { env: 'prod', team: 'edge' } }],
      ];
      // insert out of order: listing order must come from the store
      for (const [name, overrides] of [...specs].reverse()) await store.createTask(makeTask(name, overrides));
      const allNames = specs.map(([name]) => name);

      for (const pageSize of [1, 2, 3, 100]) {
        assert.deepEqual(await listAllTasks(store, EMPTY_TASK_FILTER, pageSize), allNames, `page size ${pageSize}`);
      }
      assert.deepEqual(await store.listTasks({ afterName: 'beta', limit: 2, filter: EMPTY_TASK_FILTER }).then((ts) => ts.map((t) => t.name)), [
        'beta0',
        'gamma',
      ]);
      assert.deepEqual(await store.listTasks({ afterName: '', limit: 0, filter: EMPTY_TASK_FILTER }), []);

      assert.deepEqual(await listAllTasks(store, { state: 'PAUSED', labels: {} }, 1), ['alpha-2', 'beta']);
      assert.deepEqual(await listAllTasks(store, { namePrefix: 'alpha', labels: {} }, 2), [
        'alpha',
        'alpha-2',
        'alpha_3',
        'alphabet',
      ]);
      assert.deepEqual(await listAllTasks(store, { namePrefix: 'beta', labels: {} }, 1), ['beta', 'beta0']);
      assert.deepEqual(await listAllTasks(store, { namePrefix: 'alpha-', labels: {} }, 10), ['alpha-2']);
      assert.deepEqual(await listAllTasks(store, { namePrefix: 'nope', labels: {} }, 10), []);
      // a page position inside and past the prefix range
      assert.deepEqual(
        (await store.listTasks({ afterName: 'alpha-2', limit: 10, filter: { namePrefix: 'alpha', labels: {} } })).map((t) => t.name),
        ['alpha_3', 'alphabet'],
      );
      assert.deepEqual(await store.listTasks({ afterName: 'b', limit: 10, filter: { namePrefix: 'alpha', labels: {} } }), []);

      assert.deepEqual(await listAllTasks(store, { labels: { env: 'prod' } }, 2), ['alpha', 'alpha-2', 'beta', 'gamma', 'zeta']);
      assert.deepEqual(await listAllTasks(store, { labels: { env: 'prod', team: 'core' } }, 1), ['alpha', 'beta']);
      assert.deepEqual(await listAllTasks(store, { labels: { env: '1' } }, 10), ['gamma1']);
      assert.deepEqual(await listAllTasks(store, { labels: { 'a.b': 'dotted' } }, 10), ['alphabet']);
      assert.deepEqual(await listAllTasks(store, { labels: { 'say "hi"': 'quoted' } }, 10), ['alphabet']);
      assert.deepEqual(await listAllTasks(store, { labels: { team: 'nobody' } }, 10), []);
      assert.deepEqual(
        await listAllTasks(store, { state: 'ENABLED', namePrefix: 'alpha', labels: { team: 'core' } }, 1),
        ['alpha', 'alpha_3'],
      );
    } finally {
      await store.close();
    }
  });
});

describe('SqliteStore: bytes and optional fields round-trip exactly', () => {
  const allBytes = new Uint8Array(256).map((_, i) => i);
  // a view into a larger buffer: only the view's bytes may be stored
  const backing = Buffer.from('XXXXpayload-in-the-middleYYYY');
  const view = new Uint8Array(backing.buffer, backing.byteOffset + 4, backing.length - 8);

  const tasks: Task[] = [
    makeTask('publish-all-bytes', {
      action: { kind: 'natsPublish', subject: 's.a', payload: allBytes, headers: {}, jetstream: true },
      startTime: T0 + 1,
      endTime: T0 + 2,
      labels: { $b64: 'not bytes', payloadBase64: 'AAAA', ünï: 'çødé' },
    }),
    makeTask('request-empty', {
      action: { kind: 'natsRequest', subject: 's.b', payload: new Uint8Array(0), headers: { a: '1' } },
    }),
    makeTask('http-binary', {
      action: {
        kind: 'http',
        url: 'https://example.test/hook',
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: new Uint8Array([0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28]),
        successCodes: [200, 204],
      },
    }),
    makeTask('view-payload', {
      action: { kind: 'natsPublish', subject: 's.c', payload: view, headers: {}, jetstream: false },
    }),
  ];

  function expectedPayload(task: Task): Uint8Array {
    return task.action.kind === 'http' ? task.action.body : task.action.payload;
  }

  function checkTask(actual: Task | undefined, expected: Task): void {
    assert.ok(actual);
    const bytes = actual.action.kind === 'http' ? actual.action.body : actual.action.payload;
    assert.ok(bytes instanceof Uint8Array);
    assert.ok(!Buffer.isBuffer(bytes), 'a plain Uint8Array, not a Buffer');
    assert.deepEqual([...bytes], [...expectedPayload(expected)]);
    // and the whole object, key for key (undefined times stay present-and-undefined)
    const normalized =
      expected.action.kind === 'http'
        ? { ...expected, action: { ...expected.action, body: new Uint8Array(expected.action.body) } }
        : { ...expected, action: { ...expected.action, payload: new Uint8Array(expected.action.payload) } };
    assert.deepStrictEqual(actual, normalized);
  }

  test('tasks with every action kind, empty, binary and offset payloads, survive store and reopen', async () => {
    const { store, path } = openFresh();
    for (const task of tasks) await store.createTask(task);
    for (const task of tasks) checkTask(await store.getTask(task.name), task);
    const viewTask = await store.getTask('view-payload');
    assert.ok(viewTask?.action.kind === 'natsPublish');
    assert.equal(Buffer.from(viewTask.action.payload).toString(), 'payload-in-the-middle');
    await store.close();

    const reopened = SqliteStore.open(path);
    try {
      for (const task of tasks) checkTask(await reopened.getTask(task.name), task);
      const listed = await reopened.allTasks();
      for (const task of tasks) checkTask(listed.find((t) => t.name === task.name), task);
      assert.equal((await reopened.getTask('request-empty'))!.startTime, undefined);
      assert.ok(Object.hasOwn((await reopened.getTask('request-empty'))!, 'startTime'));
    } finally {
      await reopened.close();
    }
  });

  test('executions with optional times and attempts round-trip', async () => {
    const { store } = openFresh();
    try {
      const execution = makeExecution({
        taskName: 'a',
        scheduledTime: T0,
        startTime: T0 + 5,
        endTime: undefined,
        state: 'RETRYING',
        attempt: 2,
        error: 'boom: "quoted" \u0000 nul',
        output: 'ünïcode output',
        attempts: [
          { number: 1, startTime: T0 + 5, endTime: T0 + 9, state: 'FAILED', error: 'x' },
          { number: 2, startTime: T0 + 20, endTime: undefined, state: 'RUNNING', error: '' },
        ],
      });
      const event = await store.recordExecution(execution, eventMeta(), { claim: true });
      assert.ok(event);
      assert.deepStrictEqual(event.execution, execution);
      assert.deepStrictEqual(await store.getExecution(execution.id), execution);
      assert.deepStrictEqual((await store.eventsAfter(0, 10))[0]!.execution, execution);
    } finally {
      await store.close();
    }
  });
});

describe('SqliteStore: recordExecution', () => {
  test('a claim succeeds once per occurrence; manual runs at the same instant are allowed', async () => {
    const { store } = openFresh();
    try {
      const first = makeExecution({ taskName: 'a', scheduledTime: T0 });
      const claimed = await store.recordExecution(first, eventMeta(), { claim: true });
      assert.ok(claimed);
      assert.equal(claimed.sequence, 1);

      const rival = makeExecution({ taskName: 'a', scheduledTime: T0 });
      assert.equal(await store.recordExecution(rival, eventMeta(), { claim: true }), undefined);
      const catchup = makeExecution({ taskName: 'a', scheduledTime: T0, trigger: 'CATCHUP' });
      assert.equal(await store.recordExecution(catchup, eventMeta(), { claim: true }), undefined);
      assert.equal(
        await store.recordExecution({ ...first, state: 'RUNNING' }, eventMeta(), { claim: true }),
        undefined,
        'a claim for an id that exists is refused too',
      );
      assert.equal(await store.getExecution(rival.id), undefined, 'a lost claim writes nothing');
      assert.equal(await store.getExecution(catchup.id), undefined);
      assert.equal(await store.lastSequence(), 1);
      assert.equal(await store.outboxSize(), 1);
      assert.equal((await store.getExecution(first.id))!.state, 'PENDING');

      const manual1 = makeExecution({ taskName: 'a', scheduledTime: T0, trigger: 'MANUAL' });
      const manual2 = makeExecution({ taskName: 'a', scheduledTime: T0, trigger: 'MANUAL' });
      assert.ok(await store.recordExecution(manual1, eventMeta()));
      assert.ok(await store.recordExecution(manual2, eventMeta()));

      // the same instant of another task, and the next instant of this one, are separate occurrences
      assert.ok(await store.recordExecution(makeExecution({ taskName: 'b', scheduledTime: T0 }), eventMeta(), { claim: true }));
      assert.ok(await store.recordExecution(makeExecution({ taskName: 'a', scheduledTime: T0 + 1 }), eventMeta(), { claim: true }));

      // without a claim, a second scheduled execution of an occurrence breaks the unique index
      await assert.rejects(store.recordExecution(makeExecution({ taskName: 'a', scheduledTime: T0 }), eventMeta()));
      assert.equal(await store.lastSequence(), 5, 'the failed write rolled back entirely');
      assert.equal(await store.outboxSize(), 5);
    } finally {
      await store.close();
    }
  });

  for (const writerThread of [true, false]) {
    test(`writes of one turn commit together, each with its own outcome, also when one fails half-way (${writerThread ? 'writer thread' : 'event loop'})`, async () => {
      const { store, path } = openFresh({ writerThread });
      try {
        const first = makeExecution({ taskName: 'a', scheduledTime: T0 });
        assert.ok(await store.recordExecution(first, eventMeta(), { claim: true }));
        await store.createTask(makeTask('t1'));
        // All in one turn, so in one batch: a broken write (a second scheduled execution of a
        // claimed occurrence, refused by the unique index) amid writes that must still commit.
        const before = makeExecution({ taskName: 'b', scheduledTime: T0 });
        const broken = makeExecution({ taskName: 'a', scheduledTime: T0 });
        const afterIt = makeExecution({ taskName: 'c', scheduledTime: T0 });
        const results = await Promise.allSettled([
          store.recordExecution(before, eventMeta(), { claim: true }),
          store.createTask(makeTask('t2')),
          store.recordExecution(broken, eventMeta()),
          store.createTask(makeTask('t1')),
          store.recordExecution({ ...first, state: 'RUNNING', attempt: 1, startTime: T0 }, eventMeta()),
          store.recordExecution(afterIt, eventMeta(), { claim: true }),
        ]);
        assert.deepStrictEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected', 'rejected', 'fulfilled', 'fulfilled']);
        assert.match(String((results[2] as PromiseRejectedResult).reason), /UNIQUE/);
        assert.ok((results[3] as PromiseRejectedResult).reason instanceof TaskAlreadyExistsError);
        const sequences = results.filter((r) => r.status === 'fulfilled').map((r) => (r.value as { sequence?: number } | undefined)?.sequence);
        assert.deepStrictEqual(sequences, [2, undefined, 3, 4], 'the failed write took no sequence');
        assert.equal(await store.getExecution(broken.id), undefined);
        assert.equal((await store.getExecution(first.id))!.state, 'RUNNING');
        assert.equal(await store.countTasks(), 2);
        assert.equal(await store.outboxSize(), 6, "4 execution events and 2 task events");
        await store.close();
        const reopened = SqliteStore.open(path);
        try {
          assert.equal(await reopened.lastSequence(), 4);
          assert.equal(await reopened.outboxSize(), 6);
          assert.equal(await reopened.countTasks(), 2);
          assert.deepStrictEqual((await reopened.executionsInStates(['PENDING', 'RUNNING'])).map((e) => e.taskName).sort(), ['a', 'b', 'c']);
        } finally {
          await reopened.close();
        }
      } finally {
        await store.close();
      }
    });
  }

  test('a final state is never left', async () => {
    const { store } = openFresh();
    try {
      const pending = makeExecution({ taskName: 'a', scheduledTime: T0 });
      assert.ok(await store.recordExecution(pending, eventMeta(), { claim: true }));
      const running = { ...pending, state: 'RUNNING' as const, startTime: T0 + 1, attempt: 1 };
      assert.ok(await store.recordExecution(running, eventMeta()));
      const failed = { ...running, state: 'FAILED' as const, endTime: T0 + 2, error: 'boom' };
      assert.ok(await store.recordExecution(failed, eventMeta()));
      const before = await store.lastSequence();

      for (const state of ['RETRYING', 'RUNNING', 'PENDING', 'SUCCEEDED', 'LOST'] as const) {
        assert.equal(await store.recordExecution({ ...failed, state }, eventMeta()), undefined, state);
      }
      assert.deepStrictEqual(await store.getExecution(pending.id), failed);
      assert.equal(await store.lastSequence(), before, 'refused changes append no event');

      // re-recording the same final state (e.g. with a fuller error text) is not leaving it
      const amended = { ...failed, error: 'boom, with details' };
      assert.ok(await store.recordExecution(amended, eventMeta()));
      assert.deepStrictEqual(await store.getExecution(pending.id), amended);
    } finally {
      await store.close();
    }
  });

  test('events get increasing sequences and stay in the outbox until acked', async () => {
    const { store } = openFresh();
    try {
      assert.equal(await store.lastSequence(), 0);
      assert.deepEqual(await store.pendingOutbox(10), []);
      const execution = makeExecution({ taskName: 'a', scheduledTime: T0 });
      const states: ExecutionState[] = ['PENDING', 'RUNNING', 'RETRYING', 'RUNNING', 'SUCCEEDED'];
      const sequences: number[] = [];
      for (const [i, state] of states.entries()) {
        const meta = eventMeta(T0 + i);
        const event = await store.recordExecution({ ...execution, state }, meta, { claim: i === 0 });
        assert.ok(event);
        assert.equal(event.id, meta.id);
        assert.equal(event.time, meta.time);
        assert.equal(event.execution.state, state);
        sequences.push(event.sequence);
      }
      assert.deepEqual(sequences, [1, 2, 3, 4, 5]);
      assert.equal(await store.lastSequence(), 5);
      assert.equal(await store.outboxSize(), 5);

      const pending = await store.pendingOutbox(10);
      assert.deepEqual(pending.map((e) => e.sequence), [1, 2, 3, 4, 5]);
      assert.deepEqual(pending.map((e) => e.execution.state), states);
      assert.deepEqual((await store.pendingOutbox(2)).map((e) => e.sequence), [1, 2]);
      assert.deepEqual(await store.eventsAfter(0, 100), pending, 'the same events, whichever way read');

      await store.ackOutbox([2, 1, 99]);
      assert.equal(await store.outboxSize(), 3);
      assert.deepEqual((await store.pendingOutbox(10)).map((e) => e.sequence), [3, 4, 5]);
      await store.ackOutbox([]);
      await store.ackOutbox([3, 4, 5, 5]);
      assert.equal(await store.outboxSize(), 0);
      assert.deepEqual(await store.pendingOutbox(10), []);

      // acked events stay available for watch replay
      assert.deepEqual((await store.eventsAfter(2, 2)).map((e) => e.sequence), [3, 4]);
      assert.deepEqual(await store.eventsAfter(5, 10), []);

      // what is written is what the object held when submitted (the file keeps that, whatever
      // the event's object becomes: the caller hands it over, see Store.recordExecution)
      const mine = makeExecution({ taskName: 'b', scheduledTime: T0 });
      const written = store.recordExecution(mine, eventMeta(), { claim: true });
      const event = await written;
      assert.equal(event!.sequence, 6);
      assert.equal((await store.getExecution(mine.id))!.state, 'PENDING');
    } finally {
      await store.close();
    }
  });

  test('the outbox reads the same whether its events were recorded by this process (kept in memory) or before a restart', async () => {
    const { store, path } = openFresh();
    const a = makeExecution({ taskName: 'a', scheduledTime: T0 });
    await store.recordExecution(a, eventMeta(T0), { claim: true });
    await store.recordExecution({ ...a, state: 'RUNNING', attempt: 1 }, eventMeta(T0 + 1));
    await store.close();
    const reopened = SqliteStore.open(path);
    try {
      await reopened.recordExecution({ ...a, state: 'SUCCEEDED', attempt: 1 }, eventMeta(T0 + 2));
      await reopened.recordExecution(makeExecution({ taskName: 'b', scheduledTime: T0 }), eventMeta(T0 + 3), { claim: true });
      const fromFile = await reopened.eventsAfter(0, 100);
      assert.deepEqual(fromFile.map((e) => e.sequence), [1, 2, 3, 4]);
      assert.deepEqual(await reopened.pendingOutbox(100), fromFile, 'two read back, two kept in memory');
      assert.deepEqual(await reopened.pendingOutbox(3, 1), fromFile.slice(1, 4));
      await reopened.ackOutbox([1, 2, 3]);
      assert.deepEqual(await reopened.pendingOutbox(100), fromFile.slice(3));
      assert.deepEqual(await reopened.pendingOutbox(100, 4), []);
    } finally {
      await reopened.close();
    }
  });

  test('events beyond the retention are pruned once NATS has them, never before', async () => {
    const { store } = openFresh({ eventRetention: 3 });
    try {
      const execution = makeExecution({ taskName: 'a', scheduledTime: T0, state: 'RUNNING' });
      for (let i = 0; i < 10; i++) assert.ok(await store.recordExecution(execution, eventMeta()));
      assert.equal((await store.eventsAfter(0, 100)).length, 10, 'unacked events are kept');
      assert.equal(await store.outboxSize(), 10);

      await store.ackOutbox([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      assert.ok(await store.recordExecution(execution, eventMeta()));
      assert.deepEqual((await store.eventsAfter(0, 100)).map((e) => e.sequence), [9, 10, 11]);
      assert.equal(await store.lastSequence(), 11);
      assert.deepEqual((await store.pendingOutbox(10)).map((e) => e.sequence), [11]);
    } finally {
      await store.close();
    }
  });
});

describe('SqliteStore: the outbox watermark', () => {
  test('acks take events off the head in order; an ack behind a waiting event leaves it queued', async () => {
    const { store, path } = openFresh();
    try {
      const execution = makeExecution({ taskName: 'a', scheduledTime: T0, state: 'RUNNING' });
      for (let i = 0; i < 6; i++) assert.ok(await store.recordExecution(execution, eventMeta()));
      await store.ackOutbox([2, 3]);
      assert.equal(await store.outboxSize(), 6, '1 still waits, so 2 and 3 stay queued behind it');
      assert.deepEqual((await store.pendingOutbox(10)).map((e) => e.sequence), [1, 2, 3, 4, 5, 6]);
      await store.ackOutbox([1, 2, 3]);
      assert.equal(await store.outboxSize(), 3);
      assert.deepEqual((await store.pendingOutbox(2, 4)).map((e) => e.sequence), [5, 6], 'reading on past what was sent');
      assert.deepEqual((await store.pendingOutbox(10, 1)).map((e) => e.sequence), [4, 5, 6], 'never behind the watermark');
      await store.ackOutbox([4, 1, 2]);
      assert.equal(await store.outboxSize(), 2, 'old sequences are ignored');
      await store.close();

      const reopened = SqliteStore.open(path);
      try {
        assert.equal(await reopened.outboxSize(), 2, 'the watermark survives a restart');
        assert.deepEqual((await reopened.pendingOutbox(10)).map((e) => e.sequence), [5, 6]);
        await reopened.ackOutbox([5, 6]);
        assert.equal(await reopened.outboxSize(), 0);
        assert.ok(await reopened.recordExecution(execution, eventMeta()));
        assert.deepEqual((await reopened.pendingOutbox(10)).map((e) => e.sequence), [7]);
      } finally {
        await reopened.close();
      }
    } finally {
      await store.close();
    }
  });

  test('a file of the previous schema keeps every waiting outbox row when it is upgraded', async () => {
    // schema version 2: the outbox as one row per waiting event
    const { path, db: old } = fileAtVersion(2, { wal: true });
    const insertEvent = old.prepare('INSERT INTO events (id, task_name, time, execution) VALUES (?, ?, ?, ?)');
    const stored = (i: number) => JSON.stringify({
      id: `old-${i}`, taskName: 'a', scheduledTime: T0 + i, startTime: null, endTime: null, state: 'PENDING',
      attempt: 0, trigger: 'SCHEDULE', error: '', node: 'n', attempts: [], output: '',
    });
    for (let i = 1; i <= 8; i++) insertEvent.run(`ev-${i}`, 'a', T0 + i, stored(i));
    // 1-3 were published; 4, 5, 7, 8 wait; 6 was acked out of order
    for (const sequence of [4, 5, 7, 8]) old.prepare('INSERT INTO outbox (sequence) VALUES (?)').run(sequence);
    old.close();

    const store = SqliteStore.open(path);
    try {
      const pending = await store.pendingOutbox(100);
      assert.deepEqual(pending.map((e) => e.sequence), [4, 5, 6, 7, 8], 'nothing that waited is lost (6 goes out once more)');
      assert.deepEqual(pending.map((e) => e.id), ['ev-4', 'ev-5', 'ev-6', 'ev-7', 'ev-8']);
      assert.equal(pending[0]!.execution.id, 'old-4');
      assert.equal(await store.outboxSize(), 5);
      assert.equal(await store.lastSequence(), 8);
      const next = await store.recordExecution(makeExecution({ taskName: 'a', scheduledTime: T0 + 100 }), eventMeta(), { claim: true });
      assert.equal(next!.sequence, 9);
      await store.ackOutbox([4, 5, 6, 7, 8, 9]);
      assert.equal(await store.outboxSize(), 0);
    } finally {
      await store.close();
    }
    const check = new Database(path, { readonly: true });
    try {
      assert.equal(check.pragma('user_version', { simple: true }), SCHEMA_VERSION);
      assert.deepEqual(check.prepare("SELECT name FROM sqlite_master WHERE name = 'outbox'").all(), [], 'the old table is gone');
    } finally {
      check.close();
    }
  });

  test('an empty outbox of the previous schema starts the watermark at the last sequence', async () => {
    const { path, db: old } = fileAtVersion(2);
    const insertEvent = old.prepare('INSERT INTO events (id, task_name, time, execution) VALUES (?, ?, ?, ?)');
    for (let i = 1; i <= 3; i++) insertEvent.run(`ev-${i}`, 'a', T0, '{}');
    old.prepare('DELETE FROM events WHERE sequence = 3').run(); // the newest pruned: the sequence still counts
    old.close();
    const store = SqliteStore.open(path);
    try {
      assert.equal(await store.outboxSize(), 0);
      assert.deepEqual(await store.pendingOutbox(10), []);
      const next = await store.recordExecution(makeExecution({ taskName: 'a', scheduledTime: T0 }), eventMeta(), { claim: true });
      assert.equal(next!.sequence, 4);
      assert.deepEqual((await store.pendingOutbox(10)).map((e) => e.sequence), [4]);
    } finally {
      await store.close();
    }
  });

  test('pruning never passes the watermark, and catches up in bounded steps once NATS is back', async () => {
    const { store } = openFresh({ eventRetention: 10 });
    try {
      const execution = makeExecution({ taskName: 'a', scheduledTime: T0, state: 'RUNNING' });
      for (let i = 0; i < 300; i++) assert.ok(await store.recordExecution(execution, eventMeta()));
      assert.equal((await store.eventsAfter(0, 1000)).length, 300, 'nothing acked, nothing pruned');
      await store.ackOutbox((await store.pendingOutbox(1000)).map((e) => e.sequence).slice(0, 250));
      assert.equal(await store.outboxSize(), 50);
      // one run every retention/10 = 1 event, at most 10 intervals (10 events) per run
      assert.ok(await store.recordExecution(execution, eventMeta()));
      assert.deepEqual((await store.eventsAfter(0, 1)).map((e) => e.sequence), [11]);
      for (let i = 0; i < 30; i++) assert.ok(await store.recordExecution(execution, eventMeta()));
      const kept = (await store.eventsAfter(0, 1000)).map((e) => e.sequence);
      assert.equal(kept[0], 251, 'pruned up to the watermark, not beyond');
      assert.equal(kept[kept.length - 1], 331);
      assert.equal(await store.outboxSize(), 81);
      assert.deepEqual((await store.pendingOutbox(1))[0]!.sequence, 251);
    } finally {
      await store.close();
    }
  });
});

describe('SqliteStore: execution queries', () => {
  test('listExecutions: newest first, id breaks ties, keyset pages, task and state filters', async () => {
    const { store } = openFresh();
    try {
      const recorded: Execution[] = [];
      const record = async (execution: Execution): Promise<void> => {
        assert.ok(await store.recordExecution(execution, eventMeta()));
        recorded.push(execution);
      };
      const states: ExecutionState[] = ['SUCCEEDED', 'FAILED', 'RUNNING', 'SKIPPED'];
      for (let i = 0; i < 12; i++) {
        for (const taskName of ['a', 'b']) {
          await record(
            makeExecution({ taskName, scheduledTime: T0 + Math.floor(i / 2) * 1000, trigger: 'MANUAL', state: states[i % 4]! }),
          );
        }
      }
      // ids that sort in the other direction than insertion, at one instant
      await record(makeExecution({ id: 'zz-last-id', taskName: 'a', scheduledTime: T0, trigger: 'MANUAL', state: 'FAILED' }));
      await record(makeExecution({ id: 'aa-first-id', taskName: 'a', scheduledTime: T0, trigger: 'MANUAL', state: 'FAILED' }));

      const newestFirst = (list: Execution[]): string[] =>
        [...list]
          .sort((x, y) => y.scheduledTime - x.scheduledTime || (x.id < y.id ? 1 : x.id > y.id ? -1 : 0))
          .map((e) => e.id);

      for (const pageSize of [1, 3, 5, 26, 100]) {
        assert.deepEqual(await listAllExecutions(store, {}, pageSize), newestFirst(recorded), `all, page ${pageSize}`);
        assert.deepEqual(
          await listAllExecutions(store, { taskName: 'a' }, pageSize),
          newestFirst(recorded.filter((e) => e.taskName === 'a')),
          `task a, page ${pageSize}`,
        );
        for (const filter of [['FAILED'], ['FAILED', 'RUNNING'], ['SKIPPED', 'SUCCEEDED', 'FAILED']] as ExecutionState[][]) {
          assert.deepEqual(
            await listAllExecutions(store, { states: filter }, pageSize),
            newestFirst(recorded.filter((e) => filter.includes(e.state))),
            `states ${filter.join(',')}, page ${pageSize}`,
          );
          assert.deepEqual(
            await listAllExecutions(store, { taskName: 'b', states: filter }, pageSize),
            newestFirst(recorded.filter((e) => e.taskName === 'b' && filter.includes(e.state))),
            `task b, states ${filter.join(',')}, page ${pageSize}`,
          );
        }
      }
      assert.deepEqual(await listAllExecutions(store, { taskName: 'nobody' }, 5), []);
      assert.deepEqual(await listAllExecutions(store, { states: ['LOST'] }, 5), []);

      const exact = await store.listExecutions({ taskName: '', states: [], limit: recorded.length, beforeKey: '' });
      assert.equal(exact.executions.length, recorded.length);
      assert.equal(exact.nextKey, '', 'a last page that is exactly full has no next key');

      await assert.rejects(
        store.listExecutions({ taskName: '', states: [], limit: 5, beforeKey: 'garbage' }),
        InvalidArgumentError,
      );
      await assert.rejects(
        store.listExecutions({ taskName: '', states: [], limit: 5, beforeKey: '12:' }),
        InvalidArgumentError,
      );
    } finally {
      await store.close();
    }
  });

  test('lastOccurrence ignores manual runs; lastExecution takes the latest time, then the latest recorded', async () => {
    const { store } = openFresh();
    try {
      assert.equal(await store.lastOccurrence('a'), undefined);
      assert.equal(await store.lastExecution('a'), undefined);
      await store.recordExecution(makeExecution({ taskName: 'a', scheduledTime: T0 + 60_000 }), eventMeta(), { claim: true });
      await store.recordExecution(makeExecution({ taskName: 'a', scheduledTime: T0, trigger: 'CATCHUP' }), eventMeta(), { claim: true });
      const manual = makeExecution({ id: 'zzz', taskName: 'a', scheduledTime: T0 + 90_000, trigger: 'MANUAL' });
      await store.recordExecution(manual, eventMeta());
      const laterSameInstant = makeExecution({ id: 'aaa', taskName: 'a', scheduledTime: T0 + 90_000, trigger: 'MANUAL' });
      await store.recordExecution(laterSameInstant, eventMeta());
      await store.recordExecution(makeExecution({ taskName: 'b', scheduledTime: T0 + 999_000 }), eventMeta(), { claim: true });

      assert.equal(await store.lastOccurrence('a'), T0 + 60_000);
      assert.equal((await store.lastExecution('a'))!.id, 'aaa');
      // updating the older one does not make it the latest
      await store.recordExecution({ ...manual, state: 'RUNNING' }, eventMeta());
      assert.equal((await store.lastExecution('a'))!.id, 'aaa');
    } finally {
      await store.close();
    }
  });

  test('executionsInStates finds work left in given states, oldest first', async () => {
    const { store } = openFresh();
    try {
      const running = makeExecution({ taskName: 'a', scheduledTime: T0 + 2, state: 'RUNNING' });
      const pending = makeExecution({ taskName: 'b', scheduledTime: T0 + 1, state: 'PENDING' });
      const done = makeExecution({ taskName: 'a', scheduledTime: T0, state: 'SUCCEEDED' });
      for (const e of [running, pending, done]) await store.recordExecution(e, eventMeta(), { claim: true });
      assert.deepEqual(
        (await store.executionsInStates(['RUNNING', 'PENDING', 'RETRYING'])).map((e) => e.id),
        [pending.id, running.id],
      );
      assert.deepEqual(await store.executionsInStates([]), []);
    } finally {
      await store.close();
    }
  });

  test('history keeps the newest N per task, never an unfinished one, nor where the schedule left off', async () => {
    const historyPerTask = 5;
    const { store } = openFresh({ historyPerTask });
    try {
      const stuck = makeExecution({ taskName: 'a', scheduledTime: T0 - 1000, state: 'RUNNING' });
      await store.recordExecution(stuck, eventMeta(), { claim: true });
      const finished: Execution[] = [];
      for (let i = 0; i < 20; i++) {
        const execution = makeExecution({ taskName: 'a', scheduledTime: T0 + i * 1000 });
        await store.recordExecution(execution, eventMeta(), { claim: true });
        const done = { ...execution, state: 'SUCCEEDED' as const };
        await store.recordExecution(done, eventMeta());
        finished.push(done);
      }
      for (let i = 0; i < 3; i++) {
        await store.recordExecution(makeExecution({ taskName: 'b', scheduledTime: T0 + i, state: 'SUCCEEDED' }), eventMeta());
      }

      const kept = await listAllExecutions(store, { taskName: 'a' }, 100);
      const newest = finished.slice(-historyPerTask).reverse().map((e) => e.id);
      assert.deepEqual(kept, [...newest, stuck.id], 'the newest N, plus the unfinished one');
      assert.equal((await listAllExecutions(store, { taskName: 'b' }, 100)).length, 3, 'other tasks untouched');

      // newer manual runs push scheduled ones out of the history, but not the last occurrence
      for (let i = 0; i < 10; i++) {
        await store.recordExecution(
          makeExecution({ taskName: 'a', scheduledTime: T0 + 100_000 + i, trigger: 'MANUAL', state: 'SUCCEEDED' }),
          eventMeta(),
        );
      }
      assert.equal(await store.lastOccurrence('a'), T0 + 19_000);
      const afterManual = await store.listExecutions({ taskName: 'a', states: [], limit: 100, beforeKey: '' });
      assert.equal(afterManual.executions.length, historyPerTask + 2);
      assert.equal(await store.outboxSize(), 1 + 40 + 3 + 10, 'pruning history leaves the outbox alone');
    } finally {
      await store.close();
    }
  });
});

describe('SqliteStore: durability', () => {
  test('everything is still there after reopening the file', async () => {
    const { store, path } = openFresh();
    const task = makeTask('persisted', { labels: { env: 'prod' } });
    await store.createTask(task);
    const execution = makeExecution({ taskName: 'persisted', scheduledTime: T0 });
    await store.recordExecution(execution, eventMeta(), { claim: true });
    const done = { ...execution, state: 'SUCCEEDED' as const, endTime: T0 + 10 };
    await store.recordExecution(done, eventMeta());
    await store.ackOutbox([1]);
    await store.close();

    const reopened = SqliteStore.open(path);
    try {
      assert.deepStrictEqual(await reopened.getTask('persisted'), task);
      assert.equal(await reopened.countTasks(), 1);
      assert.deepStrictEqual(await reopened.getExecution(execution.id), done);
      assert.equal(await reopened.lastOccurrence('persisted'), T0);
      assert.deepEqual((await reopened.eventsAfter(0, 10)).map((e) => e.sequence), [1, 2]);
      assert.deepEqual((await reopened.pendingOutbox(10)).map((e) => e.sequence), [2]);
      assert.equal(await reopened.lastSequence(), 2);
      // claims survive the restart too
      assert.equal(
        await reopened.recordExecution(makeExecution({ taskName: 'persisted', scheduledTime: T0 }), eventMeta(), { claim: true }),
        undefined,
      );
      const next = await reopened.recordExecution(makeExecution({ taskName: 'persisted', scheduledTime: T0 + 1 }), eventMeta(), {
        claim: true,
      });
      assert.equal(next!.sequence, 3, 'sequences continue after a restart');
    } finally {
      await reopened.close();
    }
  });

  test('a process killed with SIGKILL leaves a readable file with everything it committed', async () => {
    const path = freshPath();
    const storeModule = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/store/sqlite/sqlite-store.js');
    const script = `
      const { SqliteStore } = await import(${JSON.stringify(pathToFileURL(storeModule).href)});
      const store = SqliteStore.open(${JSON.stringify(path)});
      const payload = new Uint8Array([0, 1, 2, 250]);
      for (let i = 0; i < 50; i++) {
        await store.createTask({
          name: 'task-' + String(i).padStart(2, '0'), description: '', schedule: { cron: '* * * * *', timeZone: '' },
          action: { kind: 'natsPublish', subject: 's', payload, headers: {}, jetstream: false },
          state: 'ENABLED', labels: {}, attemptDeadlineMs: 60000,
          retryPolicy: { maxAttempts: 1, initialBackoffMs: 1000, maxBackoffMs: 60000, multiplier: 2, jitter: 0 },
          overlapPolicy: 'SKIP', misfirePolicy: 'RUN_ONCE', catchupWindowMs: 60000, startTime: undefined,
          endTime: undefined, maxRuns: 0, pauseAfterFailures: 0, pausedReason: '', createTime: 1, updateTime: 1,
          etag: 'e', runCount: 0, consecutiveFailures: 0, createdBy: '', updatedBy: '', scheduleAnchor: 0,
          createRequestId: '',
        });
      }
      for (let i = 0; i < 200; i++) {
        const execution = { id: 'x-' + i, taskName: 'task-' + String(i % 50).padStart(2, '0'), scheduledTime: ${T0} + i,
          startTime: undefined, endTime: undefined, state: 'SUCCEEDED', attempt: 1, trigger: 'SCHEDULE', error: '',
          node: 'child', attempts: [], output: '' };
        await store.recordExecution(execution, { id: 'ev-' + i, time: ${T0} + i }, { claim: true });
      }
      await store.ackOutbox([1, 2, 3]);
      process.stdout.write('committed\\n');
      setInterval(() => {}, 1000); // never closes: the parent kills it
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<NodeJS.Signals | null>((resolveExit) => child.on('exit', (_code, signal) => resolveExit(signal)));
    await new Promise<void>((resolveReady, rejectReady) => {
      let stdout = '';
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes('committed')) resolveReady();
      });
      child.on('exit', () => rejectReady(new Error(`child exited before committing: ${stderr}`)));
    });
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    assert.ok(statSync(`${path}-wal`).size > 0, 'the last commits were only in the WAL when the process died');

    const store = SqliteStore.open(path);
    try {
      assert.equal(await store.countTasks(), 50);
      const task = await store.getTask('task-07');
      assert.ok(task && task.action.kind === 'natsPublish');
      assert.deepEqual([...task.action.payload], [0, 1, 2, 250]);
      assert.equal(await store.lastSequence(), 200);
      assert.equal((await store.eventsAfter(0, 1000)).length, 200);
      assert.equal((await store.pendingOutbox(1000)).length, 197);
      assert.equal((await store.pendingTaskOutbox(1000)).length, 50, 'one created event per task');
      assert.equal(await store.outboxSize(), 197 + 50);
      assert.equal((await store.getExecution('x-199'))!.state, 'SUCCEEDED');
      assert.equal(await store.lastOccurrence('task-49'), T0 + 199);
      assert.equal((await listAllExecutions(store, {}, 64)).length, 200);
      const integrity = new Database(path, { readonly: true });
      try {
        assert.equal(integrity.pragma('integrity_check', { simple: true }), 'ok');
      } finally {
        integrity.close();
      }
    } finally {
      await store.close();
    }
  });
});
