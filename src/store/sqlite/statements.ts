/** Row shapes and parameters shared by the store's reads (sqlite-store.ts) and writes (sqlite-writes.ts). */
import type { TaskChange } from '../../domain/task-event.js';
import type { Task } from '../../domain/task.js';
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
