import type { ActionSpec, RetryPolicy } from '../domain/task.js';
import type { TaskView } from '../engine/scheduler-api.js';
import { MISFIRE_TO_PROTO, OVERLAP_TO_PROTO, TASK_STATE_TO_PROTO } from './convert-task.js';
import { writeDuration, writeExecution, writeTimestamp } from './encode-execution.js';
import { ProtoWriter } from './proto-writer.js';

/**
 * The task responses (CreateTask, GetTask, UpdateTask, PauseTask, ResumeTask, ListTasks) as
 * wire bytes straight from the domain views: the bytes of toBinary(…, taskViewToProto(view))
 * without building the messages (see proto-writer.ts). Field numbers follow
 * proto/cronplane/v1/task.proto and scheduler_service.proto; the unit tests hold them to
 * protobuf-es byte for byte. The response serializer passes bytes through unchanged.
 */

/** `{ Task task = 1; }`: CreateTaskResponse, GetTaskResponse, UpdateTaskResponse, Pause/ResumeTaskResponse. */
export function encodeTaskResponse(view: TaskView): Buffer {
  const w = new ProtoWriter(512);
  writeTask(w, 1, view);
  return w.finish();
}

/** ListTasksResponse `{ repeated Task tasks = 1; string next_page_token = 2; }`. */
export function encodeListTasksResponse(page: { tasks: TaskView[]; nextPageToken: string }): Buffer {
  const w = new ProtoWriter(256 + 400 * page.tasks.length);
  for (const view of page.tasks) writeTask(w, 1, view);
  w.string(2, page.nextPageToken);
  return w.finish();
}

/** A string map (labels, headers): one entry message per key, key and value always written. */
function writeStringMap(w: ProtoWriter, field: number, map: Record<string, string>): void {
  for (const key of Object.keys(map)) {
    const start = w.fork(field);
    w.stringAlways(1, key);
    w.stringAlways(2, map[key]!);
    w.join(start);
  }
}

function writeAction(w: ProtoWriter, field: number, action: ActionSpec): void {
  const outer = w.fork(field);
  switch (action.kind) {
    case 'natsPublish': {
      const start = w.fork(1);
      w.string(1, action.subject);
      w.bytes(2, action.payload);
      writeStringMap(w, 3, action.headers);
      w.bool(4, action.jetstream);
      w.join(start);
      break;
    }
    case 'natsRequest': {
      const start = w.fork(2);
      w.string(1, action.subject);
      w.bytes(2, action.payload);
      writeStringMap(w, 3, action.headers);
      w.join(start);
      break;
    }
    case 'http': {
      const start = w.fork(3);
      w.string(1, action.url);
      w.string(2, action.method);
      writeStringMap(w, 3, action.headers);
      w.bytes(4, action.body);
      if (action.successCodes.length > 0) {
        const packed = w.fork(5);
        for (const code of action.successCodes) w.int32Value(code);
        w.join(packed);
      }
      w.join(start);
      break;
    }
  }
  w.join(outer);
}

function writeRetryPolicy(w: ProtoWriter, field: number, policy: RetryPolicy): void {
  const start = w.fork(field);
  w.int32(1, policy.maxAttempts);
  writeDuration(w, 2, policy.initialBackoffMs);
  writeDuration(w, 3, policy.maxBackoffMs);
  w.double(4, policy.multiplier);
  w.double(5, policy.jitter);
  w.join(start);
}

/** A Task message (what taskViewToProto builds) as field `field` of the enclosing message. */
export function writeTask(w: ProtoWriter, field: number, view: TaskView): void {
  const { task } = view;
  const start = w.fork(field);
  w.string(1, task.name);
  w.string(2, task.description);
  const schedule = w.fork(3);
  w.string(1, task.schedule.cron);
  w.string(2, task.schedule.timeZone);
  w.join(schedule);
  if (task.action !== undefined) writeAction(w, 4, task.action);
  w.int32(5, TASK_STATE_TO_PROTO[task.state] ?? 0);
  writeStringMap(w, 6, task.labels);
  writeDuration(w, 7, task.attemptDeadlineMs);
  writeRetryPolicy(w, 8, task.retryPolicy);
  w.int32(9, OVERLAP_TO_PROTO[task.overlapPolicy] ?? 0);
  w.int32(10, MISFIRE_TO_PROTO[task.misfirePolicy] ?? 0);
  writeDuration(w, 11, task.catchupWindowMs);
  if (task.startTime !== undefined) writeTimestamp(w, 12, task.startTime);
  if (task.endTime !== undefined) writeTimestamp(w, 13, task.endTime);
  w.int32(14, task.maxRuns);
  w.int32(15, task.pauseAfterFailures);
  for (const time of view.nextRunTimes) writeTimestamp(w, 20, time);
  writeTimestamp(w, 21, task.createTime);
  writeTimestamp(w, 22, task.updateTime);
  w.string(23, task.etag);
  if (view.lastExecution !== undefined) writeExecution(w, 24, view.lastExecution);
  w.string(25, task.pausedReason);
  w.int32(26, task.runCount);
  w.int32(27, task.consecutiveFailures);
  w.string(28, task.createdBy);
  w.string(29, task.updatedBy);
  w.join(start);
}
