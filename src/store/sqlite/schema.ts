import type Database from 'better-sqlite3';

/**
 * The SQLite schema as an append-only list of migrations: migration i brings the file from
 * `PRAGMA user_version = i` to `i + 1`. Never edit a shipped entry; add a new one.
 *
 * Every table keeps the whole domain object as JSON (decoded by rows.ts) and copies into
 * real columns only what queries filter, order or constrain on. Two exceptions: a task's run
 * count lives in `task_runs` (migration 4); the `runCount` in its JSON is only what the last
 * task write had, and reads take the count from `task_runs`. And the fields a start needs of
 * every task are copied into `task_plans` (migration 6).
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE tasks (
    name   TEXT PRIMARY KEY,
    state  TEXT NOT NULL,
    etag   TEXT NOT NULL,
    -- only the labels, so a label filter parses a few bytes instead of the whole task
    labels TEXT NOT NULL,
    json   TEXT NOT NULL
  );
  -- ListTasks with a state filter walks this in name order
  CREATE INDEX tasks_state_name ON tasks (state, name);

  CREATE TABLE executions (
    -- explicit rowid alias: insertion order that VACUUM cannot renumber (lastExecution tie-break)
    seq            INTEGER PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    task_name      TEXT NOT NULL,
    scheduled_time INTEGER NOT NULL,
    trigger        TEXT NOT NULL,
    state          TEXT NOT NULL,
    json           TEXT NOT NULL
  );
  -- the occurrence claim: one scheduled (or catch-up) execution per task and instant
  CREATE UNIQUE INDEX executions_claim ON executions (task_name, scheduled_time)
    WHERE trigger != 'MANUAL';
  -- ListExecutions of one task, newest first, keyset-paged; lastExecution; pruning
  CREATE INDEX executions_task_time ON executions (task_name, scheduled_time, id);
  -- ListExecutions of all tasks
  CREATE INDEX executions_time ON executions (scheduled_time, id);
  -- executionsInStates (crash recovery) and ListExecutions filtered by state
  CREATE INDEX executions_state_time ON executions (state, scheduled_time, id);

  CREATE TABLE events (
    -- AUTOINCREMENT: a sequence is never handed out twice, even after the newest is pruned
    sequence  INTEGER PRIMARY KEY AUTOINCREMENT,
    id        TEXT NOT NULL,
    task_name TEXT NOT NULL,
    time      INTEGER NOT NULL,
    execution TEXT NOT NULL
  );

  -- events not yet accepted by NATS; foreign keys are off, the reference documents the link
  CREATE TABLE outbox (
    sequence INTEGER PRIMARY KEY REFERENCES events (sequence)
  );
  `,
  `
  -- task changes waiting for NATS; a row is deleted once NATS has it (no replay is kept)
  CREATE TABLE task_events (
    sequence  INTEGER PRIMARY KEY AUTOINCREMENT,
    id        TEXT NOT NULL,
    task_name TEXT NOT NULL,
    change    TEXT NOT NULL,
    time      INTEGER NOT NULL,
    task      TEXT NOT NULL
  );
  `,
  `
  -- The execution-event outbox as a watermark instead of a row per event: events are published
  -- in sequence order, so "every event up to sequence N has left the outbox" is one number
  -- (NATS has them, or they were dropped at the outbox limit); the events above it wait.
  -- Waiting rows of the old outbox stay waiting: the watermark starts below the oldest one (an
  -- event acked out of order above it is published once more; consumers dedupe by event id).
  CREATE TABLE outbox_watermark (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    published INTEGER NOT NULL
  );
  INSERT INTO outbox_watermark (id, published) VALUES (1, COALESCE(
    (SELECT MIN(sequence) - 1 FROM outbox),
    (SELECT seq FROM sqlite_sequence WHERE name = 'events'),
    0));
  DROP TABLE outbox;
  `,
  `
  -- Run counts in a narrow table of their own: counting a run (every fire) rewrites a row of a
  -- few bytes, where it used to decode and re-encode the task's JSON in its wide row. A task
  -- with no row here has run 0 times; every task write sets its row from the task, and the
  -- count read with a task replaces the one in its JSON (sqlite-writes.ts, statements.ts).
  CREATE TABLE task_runs (
    name      TEXT PRIMARY KEY,
    run_count INTEGER NOT NULL
  ) WITHOUT ROWID;
  INSERT INTO task_runs (name, run_count)
    SELECT name, json_extract(json, '$.runCount') FROM tasks WHERE json_extract(json, '$.runCount') > 0;
  `,
  `
  -- One index ordered by task where there were two (executions_claim and executions_task_time):
  -- a claim inserted into both at a random place each (one page per task per batch, a quarter
  -- of the WAL written per fire). Its key carries both jobs: unique per task and instant for
  -- scheduled and catch-up executions (their claim key is ''), and per id for MANUAL ones; in
  -- task and time order for ListExecutions of one task, lastExecution and history pruning.
  -- The expression is repeated, word for word, as CLAIM_KEY_SQL (claim-key-sql.ts).
  CREATE UNIQUE INDEX executions_task ON executions (
    task_name, scheduled_time, (CASE WHEN trigger = 'MANUAL' THEN id ELSE '' END));
  DROP INDEX executions_claim;
  DROP INDEX executions_task_time;
  `,
  `
  -- What the scheduler needs of each task (a TaskPlan), in a narrow table of its own: a start
  -- reads these instead of decoding every task's JSON (at a million tasks, a quarter of the
  -- bytes and no JSON at all). Every task write sets the task's row here, a delete removes it
  -- (sqlite-writes.ts); the task's JSON stays the whole truth, this is a copy of a few fields.
  CREATE TABLE task_plans (
    name       TEXT PRIMARY KEY,
    cron       TEXT NOT NULL,
    time_zone  TEXT NOT NULL,
    state      TEXT NOT NULL,
    anchor     INTEGER NOT NULL,
    start_time INTEGER,
    end_time   INTEGER,
    max_runs   INTEGER NOT NULL,
    misfire    TEXT NOT NULL,
    catchup_ms INTEGER NOT NULL
  ) WITHOUT ROWID;
  INSERT INTO task_plans (name, cron, time_zone, state, anchor, start_time, end_time, max_runs, misfire, catchup_ms)
    SELECT name, json_extract(json, '$.schedule.cron'), json_extract(json, '$.schedule.timeZone'), state,
      json_extract(json, '$.scheduleAnchor'), json_extract(json, '$.startTime'), json_extract(json, '$.endTime'),
      json_extract(json, '$.maxRuns'), json_extract(json, '$.misfirePolicy'), json_extract(json, '$.catchupWindowMs')
    FROM tasks;
  `,
];

/** The schema version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Bring the file up to SCHEMA_VERSION, each step in its own transaction with its
 * user_version bump, so a crash mid-way leaves a consistent older version behind.
 */
export function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > SCHEMA_VERSION) {
    throw new Error(
      `database schema version ${current} is newer than this cronplane understands (${SCHEMA_VERSION})`,
    );
  }
  for (let version = current; version < SCHEMA_VERSION; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version]!);
      db.pragma(`user_version = ${version + 1}`);
    }).immediate();
  }
}
