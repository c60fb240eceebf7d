import type { TaskState } from './task.js';

/**
 * A parsed ListTasks filter. Terms are ANDed. The parser (parseTaskFilter) lives beside it;
 * stores apply it (SQL for sqlite, in memory for others) with `matchesTaskFilter` as the reference.
 */
export interface TaskFilter {
  state?: TaskState;
  /** Names starting with this. */
  namePrefix?: string;
  /** Every entry must be present with this value. */
  labels: Record<string, string>;
}

export const EMPTY_TASK_FILTER: TaskFilter = Object.freeze({ labels: Object.freeze({}) }) as TaskFilter;
