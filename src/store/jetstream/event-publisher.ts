import { randomUUID } from 'node:crypto';
import type { JetStreamClient, PubAck } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import type { ExecutionEvent } from '../../domain/execution.js';
import type { TaskChange, TaskEvent } from '../../domain/task-event.js';
import type { Task } from '../../domain/task.js';
import { cloudEventHeaders, describeExecutionEvent, describeTaskEvent } from '../../events/cloudevents.js';
import { protoJsonEncoders } from '../../events/event-encoding.js';
import { retryTransient } from './nats-errors.js';

/** Per try; a try that times out may still have landed, which the Nats-Msg-Id takes care of. */
const ACK_TIMEOUT_MS = 3_000;
/** Through a stream leader election (a NATS node down) rather than lose the event. */
export const PUBLISH_DEADLINE_MS = 20_000;
/** A task event reports a write already done: not worth holding the RPC for long. */
const TASK_EVENT_DEADLINE_MS = 5_000;

/**
 * Writes events to the stream in exactly the format the SQLite mode's outbox publishes
 * (subjects, CloudEvents headers, protobuf JSON bodies), except that the body's `sequence` is 0:
 * the sequence is the stream's, known only from the ack (consumers read it from the message
 * metadata). A failed or timed-out publish is retried with the same Nats-Msg-Id, so the stream
 * keeps it once even if the first try did land.
 */
export class EventPublisher {
  constructor(
    private readonly js: JetStreamClient,
    private readonly subjectPrefix: string,
    private readonly source: string,
    private readonly log: Logger,
  ) {}

  /**
   * Resolves with the stream's ack (its `seq` is the event's sequence; `duplicate` when an
   * earlier try with the same event id had landed); throws once `deadlineMs` has passed
   * without one. Safe to call again with the same event: the stream keeps it once.
   */
  async publishExecution(event: ExecutionEvent, deadlineMs = PUBLISH_DEADLINE_MS): Promise<PubAck> {
    const meta = describeExecutionEvent(this.subjectPrefix, event);
    return this.publish(meta.subject, protoJsonEncoders.execution(event), cloudEventHeaders(meta, this.source), meta.id, deadlineMs);
  }

  /** Best effort after the KV write that it reports: a failure is logged, never thrown. */
  async publishTask(change: TaskChange, task: Task, time: number): Promise<void> {
    const event: TaskEvent = { sequence: 0, id: randomUUID(), time, change, task };
    const meta = describeTaskEvent(this.subjectPrefix, event);
    try {
      await this.publish(meta.subject, protoJsonEncoders.task(event), cloudEventHeaders(meta, this.source), meta.id, TASK_EVENT_DEADLINE_MS);
    } catch (err) {
      this.log.warn({ err: (err as Error).message, task: task.name, change }, 'task event not published');
    }
  }

  private publish(
    subject: string,
    body: Uint8Array,
    headers: ReturnType<typeof cloudEventHeaders>,
    msgID: string,
    deadlineMs: number,
  ): Promise<PubAck> {
    return retryTransient((timeout) => this.js.publish(subject, body, { headers, msgID, timeout }), deadlineMs, ACK_TIMEOUT_MS);
  }
}
