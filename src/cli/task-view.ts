import { MisfirePolicySchema, OverlapPolicySchema, TaskStateSchema, type Action, type Schedule, type Task } from '../gen/cronplane/v1/task_pb.js';
import { ExecutionStateSchema } from '../gen/cronplane/v1/execution_pb.js';
import type { Style } from './colors.js';
import { formatDuration, msFromDuration } from './duration-text.js';
import { enumLabel } from './enum-names.js';
import { renderDetails, renderTable } from './output-table.js';
import { formatRelativeTime } from './relative-time.js';
import { formatInstant, msFromTimestamp } from './time-text.js';

const decoder = new TextDecoder();

/** A schedule in one cell: the expression, and its zone when it is not UTC. */
export function scheduleText(schedule: Schedule | undefined): string {
  if (schedule === undefined) return '-';
  return schedule.timeZone === '' ? schedule.cron : `${schedule.cron} (${schedule.timeZone})`;
}

/** An action in a few words: "publish jobs.cleanup", "http POST https://...". */
export function actionText(action: Action | undefined): string {
  const kind = action?.kind;
  switch (kind?.case) {
    case 'natsPublish':
      return `publish ${kind.value.subject}${kind.value.jetstream ? ' (jetstream)' : ''}`;
    case 'natsRequest':
      return `request ${kind.value.subject}`;
    case 'http':
      return `http ${kind.value.method || 'POST'} ${kind.value.url}`;
    default:
      return '-';
  }
}

/** An instant both ways: exact for copying, relative for reading. */
export function instantText(ms: number | undefined, now: number): string {
  return ms === undefined ? '-' : `${formatInstant(ms)} (${formatRelativeTime(ms, now)})`;
}

/** "SUCCEEDED 2m ago": how the last execution ended, and when. */
export function lastRunText(task: Task, now: number, style: Style): string {
  const last = task.lastExecution;
  if (last === undefined) return '-';
  const at = msFromTimestamp(last.endTime) ?? msFromTimestamp(last.startTime) ?? msFromTimestamp(last.scheduledTime);
  const state = style.state(enumLabel(ExecutionStateSchema, last.state));
  return at === undefined ? state : `${state} ${formatRelativeTime(at, now)}`;
}

/** The task table of `tasks list`: one row per task, scanned for what runs next and what failed. */
export function renderTaskTable(tasks: readonly Task[], now: number, style: Style): string {
  const rows = tasks.map((t) => {
    const next = msFromTimestamp(t.nextRunTimes[0]);
    return [
      t.name,
      scheduleText(t.schedule),
      style.state(enumLabel(TaskStateSchema, t.state)),
      next === undefined ? '-' : formatRelativeTime(next, now),
      lastRunText(t, now, style),
    ];
  });
  return renderTable(['NAME', 'SCHEDULE', 'STATE', 'NEXT RUN', 'LAST RUN'], rows, { header: style.bold });
}

function headersText(headers: Record<string, string>): string {
  const entries = Object.entries(headers);
  return entries.length === 0 ? '' : entries.map(([k, v]) => `${k}: ${v}`).join(', ');
}

function actionDetails(action: Action | undefined): Array<[string, string]> {
  const kind = action?.kind;
  const pairs: Array<[string, string]> = [['action', actionText(action)]];
  if (kind?.case === 'natsPublish' || kind?.case === 'natsRequest') {
    if (kind.value.payload.byteLength > 0) pairs.push(['payload', decoder.decode(kind.value.payload)]);
  } else if (kind?.case === 'http') {
    if (kind.value.body.byteLength > 0) pairs.push(['body', decoder.decode(kind.value.body)]);
    if (kind.value.successCodes.length > 0) pairs.push(['success codes', kind.value.successCodes.join(', ')]);
  }
  const headers = kind?.case === undefined ? '' : headersText(kind.value.headers);
  if (headers !== '') pairs.push(['headers', headers]);
  return pairs;
}

/** One task in full for `tasks get` and after create/update: everything a person checks. */
export function renderTaskDetails(task: Task, now: number, style: Style): string {
  const pairs: Array<[string, string]> = [['name', task.name]];
  if (task.description !== '') pairs.push(['description', task.description]);
  pairs.push(['schedule', scheduleText(task.schedule)]);
  pairs.push(...actionDetails(task.action));
  const state = style.state(enumLabel(TaskStateSchema, task.state));
  pairs.push(['state', task.pausedReason === '' ? state : `${state} (${task.pausedReason})`]);
  const labels = Object.entries(task.labels);
  if (labels.length > 0) pairs.push(['labels', labels.map(([k, v]) => `${k}=${v}`).join(', ')]);
  if (task.attemptDeadline !== undefined) pairs.push(['deadline', formatDuration(msFromDuration(task.attemptDeadline))]);
  const retry = task.retryPolicy;
  if (retry !== undefined && retry.maxAttempts > 1) {
    const initial = retry.initialBackoff === undefined ? '' : formatDuration(msFromDuration(retry.initialBackoff));
    const max = retry.maxBackoff === undefined ? '' : formatDuration(msFromDuration(retry.maxBackoff));
    pairs.push(['retries', `${retry.maxAttempts - 1} (backoff ${initial} x${retry.multiplier}, at most ${max}${retry.jitter > 0 ? `, jitter ${retry.jitter}` : ''})`]);
  } else {
    pairs.push(['retries', 'none']);
  }
  pairs.push(['overlap', enumLabel(OverlapPolicySchema, task.overlapPolicy)]);
  const window = task.catchupWindow === undefined ? '' : ` within ${formatDuration(msFromDuration(task.catchupWindow))}`;
  pairs.push(['misfire', `${enumLabel(MisfirePolicySchema, task.misfirePolicy)}${window}`]);
  const start = msFromTimestamp(task.startTime);
  const end = msFromTimestamp(task.endTime);
  if (start !== undefined) pairs.push(['starts', formatInstant(start)]);
  if (end !== undefined) pairs.push(['ends', formatInstant(end)]);
  if (task.maxRuns > 0) pairs.push(['max runs', String(task.maxRuns)]);
  if (task.pauseAfterFailures > 0) pairs.push(['pause after', `${task.pauseAfterFailures} failures in a row`]);
  const next = task.nextRunTimes.map((t) => msFromTimestamp(t)!);
  pairs.push(['next runs', next.length === 0 ? '-' : instantText(next[0], now)]);
  for (const ms of next.slice(1)) pairs.push(['', instantText(ms, now)]);
  pairs.push(['last run', task.lastExecution === undefined ? '-' : `${lastRunText(task, now, style)} (${task.lastExecution.id})`]);
  pairs.push(['runs', `${task.runCount} scheduled, ${task.consecutiveFailures} failed in a row`]);
  const by = (who: string) => (who === '' ? '' : ` by ${who}`);
  pairs.push(['created', `${instantText(msFromTimestamp(task.createTime), now)}${by(task.createdBy)}`]);
  pairs.push(['updated', `${instantText(msFromTimestamp(task.updateTime), now)}${by(task.updatedBy)}`]);
  pairs.push(['etag', task.etag]);
  return renderDetails(pairs, style.bold);
}

/** "next run 2026-...Z (in 3s)" or why there is none: the confirmation after create/update/resume. */
export function nextRunSummary(task: Task, now: number): string {
  const next = msFromTimestamp(task.nextRunTimes[0]);
  if (next !== undefined) return `next run ${instantText(next, now)}`;
  return enumLabel(TaskStateSchema, task.state) === 'PAUSED' ? 'paused, no next run' : 'no next run';
}
