import { headers, MsgHdrsImpl, type MsgHdrs } from '@nats-io/transport-node';
import type { ExecutionEvent } from '../domain/execution.js';
import type { TaskEvent } from '../domain/task-event.js';
import { isoMillis } from './iso-time.js';

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

/** A header value as MsgHdrsImpl would store it, or undefined where it would refuse it. */
function plainHeaderValue(value: string): string | undefined {
  return /[\r\n]/.test(value) ? undefined : value.trim();
}

/**
 * The same CloudEvents headers as cloudEventHeaders, with their wire form written once up
 * front: a plain publish asks its headers only for `encode()`, and MsgHdrsImpl's per-header
 * validation and canonicalisation cost more than the rest of a publish. The map is filled too,
 * so reads still work; any change drops the prepared bytes.
 */
class PreparedHeaders extends MsgHdrsImpl {
  private wire: Uint8Array | undefined;

  constructor(entries: ReadonlyArray<readonly [string, string]>) {
    super();
    let text = 'NATS/1.0';
    for (const [key, value] of entries) {
      this.headers.set(key, [value]);
      text += `\r\n${key}: ${value}`;
    }
    this.wire = Buffer.from(`${text}\r\n\r\n`, 'utf8');
  }

  override encode(): Uint8Array {
    return this.wire ?? super.encode();
  }

  override append(k: string, v: string, match?: Parameters<MsgHdrsImpl['append']>[2]): void {
    this.wire = undefined;
    super.append(k, v, match);
  }

  override delete(k: string, match?: Parameters<MsgHdrsImpl['delete']>[1]): void {
    this.wire = undefined;
    super.delete(k, match);
  }
}

/**
 * cloudEventHeaders for a plain (core NATS) publish, encoded once: same names, values and
 * order on the wire. Falls back to cloudEventHeaders for a value MsgHdrsImpl would treat
 * specially (a line break, surrounding blanks), so the outcome is the same either way.
 */
export function preparedCloudEventHeaders(event: OutgoingEvent, source: string): MsgHdrs {
  const id = plainHeaderValue(event.id);
  const src = plainHeaderValue(source);
  const type = plainHeaderValue(event.type);
  const subject = plainHeaderValue(event.taskName);
  if (id === undefined || src === undefined || type === undefined || subject === undefined
    || id !== event.id || src !== source || type !== event.type || subject !== event.taskName) {
    return cloudEventHeaders(event, source);
  }
  return new PreparedHeaders([
    ['ce-specversion', '1.0'],
    ['ce-id', id],
    ['ce-source', src],
    ['ce-type', type],
    ['ce-time', Number.isSafeInteger(event.time) ? isoMillis(event.time) : new Date(event.time).toISOString()],
    ['ce-subject', subject],
    ['content-type', 'application/json'],
    ['Nats-Msg-Id', id],
  ]);
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
