import { ExecutionStateSchema, TriggerSchema, type Execution, type ExecutionEvent } from '../gen/cronplane/v1/execution_pb.js';
import type { Style } from './colors.js';
import { formatDuration, msFromDuration } from './duration-text.js';
import { enumLabel } from './enum-names.js';
import { renderDetails, renderTable } from './output-table.js';
import { formatRelativeTime } from './relative-time.js';
import { instantText } from './task-view.js';
import { formatInstant, formatInstantMs, msFromTimestamp } from './time-text.js';

/** The longest state name, so live lines keep their columns. */
const STATE_WIDTH = 9;

/** How long an execution ran (or has been running); "-" before it started. */
export function executionDurationText(execution: Execution, now: number): string {
  const start = msFromTimestamp(execution.startTime);
  if (start === undefined) return '-';
  const end = msFromTimestamp(execution.endTime);
  return end === undefined ? `${formatDuration(now - start)}+` : formatDuration(end - start);
}

function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** The history table of `executions list`, newest first as the service returns it. */
export function renderExecutionTable(executions: readonly Execution[], now: number, style: Style): string {
  const rows = executions.map((e) => {
    const scheduled = msFromTimestamp(e.scheduledTime);
    return [
      e.id,
      e.taskName,
      style.state(enumLabel(ExecutionStateSchema, e.state)),
      enumLabel(TriggerSchema, e.trigger).toLowerCase(),
      scheduled === undefined ? '-' : formatRelativeTime(scheduled, now),
      executionDurationText(e, now),
      String(e.attempt),
      oneLine(e.error, 60),
    ];
  });
  return renderTable(['ID', 'TASK', 'STATE', 'TRIGGER', 'SCHEDULED', 'DURATION', 'ATTEMPTS', 'ERROR'], rows, {
    header: style.bold,
    align: ['left', 'left', 'left', 'left', 'left', 'right', 'right', 'left'],
  });
}

/** One execution in full for `executions get`: timings, every attempt, and the output. */
export function renderExecutionDetails(e: Execution, now: number, style: Style): string {
  const pairs: Array<[string, string]> = [
    ['id', e.id],
    ['task', e.taskName],
    ['state', style.state(enumLabel(ExecutionStateSchema, e.state))],
    ['trigger', enumLabel(TriggerSchema, e.trigger).toLowerCase()],
    ['scheduled', instantText(msFromTimestamp(e.scheduledTime), now)],
    ['started', instantText(msFromTimestamp(e.startTime), now)],
    ['ended', instantText(msFromTimestamp(e.endTime), now)],
    ['duration', executionDurationText(e, now)],
  ];
  if (e.lag !== undefined) pairs.push(['lag', formatDuration(msFromDuration(e.lag))]);
  pairs.push(['node', e.node || '-']);
  if (e.error !== '') pairs.push(['error', e.error]);
  let text = renderDetails(pairs, style.bold);
  if (e.attempts.length > 0) {
    const rows = e.attempts.map((a) => {
      const start = msFromTimestamp(a.startTime);
      const end = msFromTimestamp(a.endTime);
      return [
        String(a.number),
        style.state(enumLabel(ExecutionStateSchema, a.state)),
        start === undefined ? '-' : formatInstant(start),
        start === undefined ? '-' : end === undefined ? `${formatDuration(now - start)}+` : formatDuration(end - start),
        oneLine(a.error, 80),
      ];
    });
    text += `\n${renderTable(['ATTEMPT', 'STATE', 'STARTED', 'DURATION', 'ERROR'], rows, { header: style.bold, align: ['right'] })}`;
  }
  if (e.output !== '') text += `\n${style.bold('output:')}\n${e.output.endsWith('\n') ? e.output : `${e.output}\n`}`;
  return text;
}

/**
 * One watch event as one line, columns kept steady for the eye:
 * `<time>  #<sequence>  <task>  <STATE>  <execution id>  <trigger>  attempt N  [took 12ms]  [error]`.
 */
export function formatEventLine(event: ExecutionEvent, style: Style): string {
  const e = event.execution;
  const time = msFromTimestamp(event.time);
  const parts = [
    time === undefined ? '-' : formatInstantMs(time),
    // Padded so the columns stay put until the millionth event.
    `#${event.sequence}`.padEnd(7),
    e?.taskName ?? '-',
  ];
  if (e === undefined) return parts.join('  ');
  const state = enumLabel(ExecutionStateSchema, e.state);
  parts.push(style.state(state) + ' '.repeat(Math.max(0, STATE_WIDTH - state.length)), e.id, enumLabel(TriggerSchema, e.trigger).toLowerCase());
  if (e.attempt > 0) parts.push(`attempt ${e.attempt}`);
  const start = msFromTimestamp(e.startTime);
  const end = msFromTimestamp(e.endTime);
  if (start !== undefined && end !== undefined) parts.push(`took ${formatDuration(end - start)}`);
  if (e.error !== '') parts.push(style.red(oneLine(e.error, 120)));
  return parts.join('  ');
}
