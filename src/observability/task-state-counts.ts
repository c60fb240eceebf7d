import type { Task } from '../domain/task.js';
import type { TaskFilter } from '../domain/task-filter.js';

/** The two Store methods the count needs (a Store satisfies it). */
export interface TaskCountSource {
  countTasks(): Promise<number>;
  listTasks(query: { afterName: string; limit: number; filter: TaskFilter }): Promise<Task[]>;
}

/** Paused tasks are counted by listing them; beyond this many the split is skipped, not guessed. */
export const MAX_PAUSED_COUNTED = 10_000;
const PAGE = 1_000;

/**
 * Tasks by state for the `cronplane_tasks` gauge, computed at scrape time from the store (the
 * only place that is right after engine-side pauses and across replicas). The Store has a
 * total count but no count by state, so: total = countTasks(); PAUSED = the paused tasks,
 * listed a page at a time on the (state, name) index; ENABLED = total - PAUSED. Paused tasks
 * are usually few, so this is a handful of indexed reads; with more than MAX_PAUSED_COUNTED
 * paused tasks it returns undefined and the gauge is left out for that scrape.
 */
export async function countTasksByState(store: TaskCountSource, maxPaused = MAX_PAUSED_COUNTED): Promise<{ ENABLED: number; PAUSED: number } | undefined> {
  let paused = 0;
  let afterName = '';
  for (;;) {
    const page = await store.listTasks({ afterName, limit: PAGE, filter: { state: 'PAUSED', labels: {} } });
    paused += page.length;
    if (paused > maxPaused) return undefined;
    if (page.length < PAGE) break;
    afterName = page[page.length - 1]!.name;
  }
  const total = await store.countTasks();
  return { ENABLED: Math.max(0, total - paused), PAUSED: paused };
}
