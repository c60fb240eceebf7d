import { headers, type MsgHdrs } from '@nats-io/transport-node';
import type { ExecutionEvent } from '../domain/execution.js';

/**
 * CloudEvents 1.0 binary mode over NATS headers, so generic CloudEvents consumers understand
 * the events; the event id doubles as Nats-Msg-Id so JetStream drops a re-published duplicate.
 */
export function cloudEventHeaders(event: ExecutionEvent, source: string): MsgHdrs {
  const h = headers();
  h.set('ce-specversion', '1.0');
  h.set('ce-id', event.id);
  h.set('ce-source', source);
  h.set('ce-type', `io.cronplane.execution.${event.execution.state.toLowerCase()}`);
  h.set('ce-time', new Date(event.time).toISOString());
  h.set('ce-subject', event.execution.taskName);
  h.set('content-type', 'application/json');
  h.set('Nats-Msg-Id', event.id);
  h.set('Cronplane-Sequence', String(event.sequence));
  return h;
}

/** `<prefix>.executions.<task>.<state>`, state in lower case. */
export function executionEventSubject(prefix: string, event: ExecutionEvent): string {
  return `${prefix}.executions.${event.execution.taskName}.${event.execution.state.toLowerCase()}`;
}
