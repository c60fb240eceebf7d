import type { Task } from './task.js';

/** What happened to a task; published on `<prefix>.tasks.<task>.<change>`. */
export type TaskChange = 'created' | 'updated' | 'deleted' | 'paused' | 'resumed';

/** One stored change of a task, waiting in the outbox until NATS has it. */
export interface TaskEvent {
  sequence: number;
  id: string;
  time: number;
  change: TaskChange;
  /** The task after the change; for a delete, as it was. */
  task: Task;
}

/**
 * Which change a write is, seen from the stored task before and after. A write that keeps the
 * etag (the engine's run counters) is no change anyone subscribes to.
 */
export function taskChangeOf(before: Task | undefined, after: Task | undefined): TaskChange | undefined {
  if (before === undefined) return after === undefined ? undefined : 'created';
  if (after === undefined) return 'deleted';
  if (before.etag === after.etag) return undefined;
  if (before.state === 'ENABLED' && after.state === 'PAUSED') return 'paused';
  if (before.state === 'PAUSED' && after.state === 'ENABLED') return 'resumed';
  return 'updated';
}
