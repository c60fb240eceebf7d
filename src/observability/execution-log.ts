import type { Logger } from 'pino';
import { executionLag, isFailureState, type ExecutionEvent } from '../domain/execution.js';

/** One log line per execution event, with the fields an operator greps for. */
export function logExecutionEvent(log: Logger, event: ExecutionEvent): void {
  const e = event.execution;
  // Checked first: the fields cost more than the call, and a quiet level writes nothing.
  if (!log.isLevelEnabled(isFailureState(e.state) ? 'warn' : 'info')) return;
  const fields = {
    task: e.taskName,
    executionId: e.id,
    state: e.state,
    trigger: e.trigger,
    attempt: e.attempt,
    scheduledTime: new Date(e.scheduledTime).toISOString(),
    lagMs: executionLag(e),
    durationMs: e.endTime !== undefined && e.startTime !== undefined ? e.endTime - e.startTime : undefined,
    error: e.error || undefined,
    sequence: event.sequence,
    eventId: event.id,
  };
  const message = `execution ${e.state.toLowerCase()}`;
  if (isFailureState(e.state)) log.warn(fields, message);
  else log.info(fields, message);
}
