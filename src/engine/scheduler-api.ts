import type { Execution, ExecutionEvent, ExecutionState } from '../domain/execution.js';
import type { ScheduleSpec, Task, TaskSpec } from '../domain/task.js';

/** Who asks, for logs and the task's created_by/updated_by. */
export interface RequestContext {
  requestId: string;
  /** The authenticated subject; empty without authentication. */
  principal: string;
}

/** A task as clients see it: stored fields plus what is derived at read time. */
export interface TaskView {
  task: Task;
  /** Up to 5 next fire times (epoch ms); empty when paused or finished. */
  nextRunTimes: number[];
  lastExecution: Execution | undefined;
}

export interface WatchQuery {
  taskNames: string[];
  states: ExecutionState[];
  /** 0 = live only. */
  /** undefined = live only; 0 = replay every kept event first. */
  afterSequence: number | undefined;
}

/**
 * The use cases of the control plane, as transports call them. Inputs are already in domain
 * shape; every method validates and throws domain errors (src/domain/errors.ts) with field
 * paths as the request names them ("task.schedule.cron", "page_size", "id").
 */
export interface SchedulerApi {
  createTask(spec: TaskSpec, context: RequestContext & { createRequestId: string }): Promise<TaskView>;
  getTask(name: string): Promise<TaskView>;
  listTasks(query: { pageSize: number; pageToken: string; filter: string }): Promise<{ tasks: TaskView[]; nextPageToken: string }>;
  /** `paths` are update_mask paths in proto field names; empty = every mutable field. */
  updateTask(
    update: { spec: TaskSpec; paths: string[]; etag: string },
    context: RequestContext,
  ): Promise<TaskView>;
  deleteTask(name: string, etag: string, context: RequestContext): Promise<void>;
  pauseTask(name: string, reason: string, context: RequestContext): Promise<TaskView>;
  resumeTask(name: string, context: RequestContext): Promise<TaskView>;
  runTask(name: string, context: RequestContext): Promise<Execution>;
  listExecutions(query: {
    taskName: string;
    states: ExecutionState[];
    pageSize: number;
    pageToken: string;
  }): Promise<{ executions: Execution[]; nextPageToken: string }>;
  getExecution(id: string): Promise<Execution>;
  cancelExecution(id: string, context: RequestContext): Promise<Execution>;
  /** `startTime` undefined = now; `count` 0 = default (10); at most 1000. */
  previewSchedule(schedule: ScheduleSpec, startTime: number | undefined, count: number): Promise<number[]>;
  /**
   * Events matching the query: replayed after `afterSequence` first, then live, with no gap or
   * duplicate. Ends when `signal` aborts. Throws ResourceExhaustedError when the consumer falls
   * too far behind (its buffer is bounded).
   */
  watchExecutions(query: WatchQuery, signal: AbortSignal): AsyncIterable<ExecutionEvent>;
}
