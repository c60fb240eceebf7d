/** Row shapes and parameters shared by the store's reads (sqlite-store.ts) and writes (sqlite-writes.ts). */
import type { TaskChange } from '../../domain/task-event.js';
import type { MisfirePolicy, Task, TaskPlan, TaskState } from '../../domain/task.js';
import type { Execution } from '../../domain/execution.js';
import { executionToJson, taskLabelsToJson, taskToJson } from './rows.js';

export interface TaskEventRow {
  sequence: number;
  id: string;
  change: TaskChange;
  time: number;
  task: string;
}

export interface JsonRow {
  json: string;
}

/** A task as read: its JSON, and its run count from task_runs (null: none yet). */
export interface TaskRow extends JsonRow {
  runCount: number | null;
}

/** The columns every task read selects, for TaskRow (see taskFromRow). */
export const TASK_COLUMNS = 'json, (SELECT run_count FROM task_runs WHERE task_runs.name = tasks.name) AS runCount';

export interface TaskParams {
  name: string;
  state: string;
  etag: string;
  labels: string;
  json: string;
}

/** A task's row in task_plans: what a start reads instead of its JSON (schema.ts, migration 6). */
export interface TaskPlanParams {
  name: string;
  cron: string;
  timeZone: string;
  state: string;
  anchor: number;
  startTime: number | null;
  endTime: number | null;
  maxRuns: number;
  misfire: string;
  catchupMs: number;
}

export function taskPlanParams(task: Task): TaskPlanParams {
  return {
    name: task.name,
    cron: task.schedule.cron,
    timeZone: task.schedule.timeZone,
    state: task.state,
    anchor: task.scheduleAnchor,
    startTime: task.startTime ?? null,
    endTime: task.endTime ?? null,
    maxRuns: task.maxRuns,
    misfire: task.misfirePolicy,
    catchupMs: task.catchupWindowMs,
  };
}

/** The columns of task_plans in TaskPlanParams' order, and the task's run count last: a raw() row for taskPlanFromRow. */
export const TASK_PLAN_COLUMNS = `name, cron, time_zone, state, anchor, start_time, end_time, max_runs, misfire, catchup_ms,
  (SELECT run_count FROM task_runs WHERE task_runs.name = task_plans.name)`;

export type TaskPlanRow = [string, string, string, string, number, number | null, number | null, number, string, number, number | null];

/** One instance of each enum value, not a string per row (a million rows at start). */
const STATES: Readonly<Record<string, TaskState>> = { ENABLED: 'ENABLED', PAUSED: 'PAUSED' };
const MISFIRE_POLICIES: Readonly<Record<string, MisfirePolicy>> = { RUN_ONCE: 'RUN_ONCE', SKIP: 'SKIP', RUN_ALL: 'RUN_ALL' };

export function taskPlanFromRow(row: TaskPlanRow): TaskPlan {
  return {
    name: row[0],
    schedule: { cron: row[1], timeZone: row[2] },
    state: STATES[row[3]] ?? (row[3] as TaskState),
    scheduleAnchor: row[4],
    startTime: row[5] ?? undefined,
    endTime: row[6] ?? undefined,
    maxRuns: row[7],
    runCount: row[10] ?? 0,
    misfirePolicy: MISFIRE_POLICIES[row[8]] ?? (row[8] as MisfirePolicy),
    catchupWindowMs: row[9],
  };
}

/** An execution as its row's columns (and its JSON, which its event stores too). */
export interface ExecutionRow {
  id: string;
  taskName: string;
  scheduledTime: number;
  trigger: string;
  state: string;
  json: string;
}

export interface ExecutionKeyRow extends JsonRow {
  scheduledTime: number;
  id: string;
}

export const EVENT_COLUMNS = 'sequence, id, time, execution';

/** SQLite's LIMIT treats a negative value as "no limit": never let one through. */
export function rowLimit(limit: number): number {
  return Number.isFinite(limit) ? Math.max(0, Math.floor(limit)) : 0;
}

/** Kept events after a sequence, ascending: replay, and the outbox past what is in memory. */
export const EVENTS_AFTER_SQL = `SELECT ${EVENT_COLUMNS} FROM events WHERE sequence > ? ORDER BY sequence LIMIT ?`;
/** The task events' outbox, oldest first. */
export const PENDING_TASK_EVENTS_SQL = 'SELECT sequence, id, change, time, task FROM task_events ORDER BY sequence LIMIT ?';

export function taskParams(task: Task): TaskParams {
  return {
    name: task.name,
    state: task.state,
    etag: task.etag,
    labels: taskLabelsToJson(task),
    json: taskToJson(task),
  };
}

/** The row's parameters for an execution's write: what SqliteWrites' statements bind. */
export function executionRow(execution: Execution): ExecutionRow {
  return {
    id: execution.id,
    taskName: execution.taskName,
    scheduledTime: execution.scheduledTime,
    trigger: execution.trigger,
    state: execution.state,
    json: executionToJson(execution),
  };
}
