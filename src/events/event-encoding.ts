import { create, toJsonString } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import type { ExecutionEvent } from '../domain/execution.js';
import type { TaskChange as DomainTaskChange, TaskEvent } from '../domain/task-event.js';
import { TaskChange, TaskEventSchema } from '../gen/cronplane/v1/task_pb.js';
import { taskViewToProto } from '../grpc/convert-task.js';
import { executionEventJson } from './execution-event-json.js';
import type { EventEncoders } from './outbox-publisher.js';

const encoder = new TextEncoder();

const CHANGES: Record<DomainTaskChange, TaskChange> = {
  created: TaskChange.CREATED,
  updated: TaskChange.UPDATED,
  deleted: TaskChange.DELETED,
  paused: TaskChange.PAUSED,
  resumed: TaskChange.RESUMED,
};

/**
 * NATS message bodies: the same protobuf JSON that gRPC clients see, so one schema serves both.
 * Execution events (thousands a second) go through the hand-written encoder; task events
 * (a few per task change) through protobuf-es.
 */
export const protoJsonEncoders: EventEncoders = {
  execution: (event: ExecutionEvent) => Buffer.from(executionEventJson(event), 'utf8'),
  task: (event: TaskEvent) =>
    encoder.encode(
      toJsonString(
        TaskEventSchema,
        create(TaskEventSchema, {
          id: event.id,
          time: timestampFromMs(event.time),
          change: CHANGES[event.change],
          task: taskViewToProto({ task: event.task, nextRunTimes: [], lastExecution: undefined }),
        }),
      ),
    ),
};
