import type { ExecutionEvent } from '../domain/execution.js';
import type { TaskEvent } from '../domain/task-event.js';
import { executionEventJson } from './execution-event-json.js';
import type { EventEncoders } from './outbox-publisher.js';
import { taskEventJson } from './task-event-json.js';

/**
 * NATS message bodies: the same protobuf JSON that gRPC clients see, so one schema serves both,
 * written by the hand-written encoders (unit tests hold them to protobuf-es byte for byte).
 */
export const protoJsonEncoders: EventEncoders = {
  execution: (event: ExecutionEvent) => Buffer.from(executionEventJson(event), 'utf8'),
  task: (event: TaskEvent) => Buffer.from(taskEventJson(event), 'utf8'),
};
