import type { Access } from '../auth/access.js';
import type { SchedulerService } from '../gen/cronplane/v1/scheduler_service_pb.js';

/** A SchedulerService method by its protobuf-es local name ("createTask"). */
export type SchedulerMethod = keyof (typeof SchedulerService)['method'];

/**
 * What each RPC needs: `read` (cronplane.read) looks, `write` (cronplane.write) changes or runs
 * something and is audited. Typed over every method, so a new RPC does not compile until it is
 * classified here.
 */
export const METHOD_ACCESS: Readonly<Record<SchedulerMethod, Access>> = Object.freeze({
  createTask: 'write',
  getTask: 'read',
  listTasks: 'read',
  updateTask: 'write',
  deleteTask: 'write',
  pauseTask: 'write',
  resumeTask: 'write',
  runTask: 'write',
  listExecutions: 'read',
  getExecution: 'read',
  cancelExecution: 'write',
  watchExecutions: 'read',
  previewSchedule: 'read',
});
