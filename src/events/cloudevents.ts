import { headers, type MsgHdrs } from '@nats-io/transport-node';
import type { ExecutionEvent } from '../domain/execution.js';
import type { TaskEvent } from '../domain/task-event.js';
import { isoMillis } from './iso-time.js';
import { plainValue, preparedPlainHeaders } from './prepared-headers.js';

/** The parts of an event that its NATS message needs. */
export interface OutgoingEvent {
  id: string;
  time: number;
  /** CloudEvents type, e.g. io.cronplane.execution.succeeded */
  type: string;
  /** The task the event is about. */
  taskName: string;
  subject: string;
  sequence: number;
}

/**
 * CloudEvents 1.0 binary mode over NATS headers, so generic CloudEvents consumers understand
 * the events; the event id doubles as Nats-Msg-Id so JetStream drops a re-published duplicate.
 */
export function cloudEventHeaders(event: OutgoingEvent, source: string): MsgHdrs {
  const h = headers();
  h.set('ce-specversion', '1.0');
  h.set('ce-id', event.id);
  h.set('ce-source', source);
  h.set('ce-type', event.type);
  h.set('ce-time', new Date(event.time).toISOString());
  h.set('ce-subject', event.taskName);
  h.set('content-type', 'application/json');
  h.set('Nats-Msg-Id', event.id);
  return h;
}

/** cloudEventHeaders' names, in its order. */
const CLOUD_EVENT_HEADER_NAMES: readonly string[] = ['ce-specversion', 'ce-id', 'ce-source', 'ce-type', 'ce-time', 'ce-subject', 'content-type', 'Nats-Msg-Id'];

/** The last source checked (a publisher has one): checked once, not per event. */
let checkedSource: { source: string; plain: boolean } | undefined;

/**
 * cloudEventHeaders for a plain (core NATS) publish, encoded once: same names, values and
 * order on the wire. Falls back to cloudEventHeaders for a value MsgHdrsImpl would treat
 * specially (a line break, surrounding blanks), so the outcome is the same either way.
 */
export function preparedCloudEventHeaders(event: OutgoingEvent, source: string): MsgHdrs {
  if (checkedSource?.source !== source) checkedSource = { source, plain: plainValue(source) };
  const time = Number.isSafeInteger(event.time) ? isoMillis(event.time) : new Date(event.time).toISOString();
  if (!checkedSource.plain || !plainValue(event.id) || !plainValue(event.type) || !plainValue(event.taskName)) {
    return cloudEventHeaders(event, source);
  }
  return preparedPlainHeaders(CLOUD_EVENT_HEADER_NAMES, ['1.0', event.id, source, event.type, time, event.taskName, 'application/json', event.id]);
}

/** `<prefix>.executions.<task>.<state>`, state in lower case. */
export function describeExecutionEvent(prefix: string, event: ExecutionEvent): OutgoingEvent {
  const state = event.execution.state.toLowerCase();
  return {
    id: event.id,
    time: event.time,
    type: `io.cronplane.execution.${state}`,
    taskName: event.execution.taskName,
    subject: `${prefix}.executions.${event.execution.taskName}.${state}`,
    sequence: event.sequence,
  };
}

/** `<prefix>.tasks.<task>.<change>`. */
export function describeTaskEvent(prefix: string, event: TaskEvent): OutgoingEvent {
  return {
    id: event.id,
    time: event.time,
    type: `io.cronplane.task.${event.change}`,
    taskName: event.task.name,
    subject: `${prefix}.tasks.${event.task.name}.${event.change}`,
    sequence: event.sequence,
  };
}
