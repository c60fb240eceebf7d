import { clone, create, type MessageInitShape } from '@bufbuild/protobuf';
import {
  ActionSchema,
  MisfirePolicySchema,
  OverlapPolicySchema,
  RetryPolicySchema,
  ScheduleSchema,
  TaskSchema,
  TaskState,
  type Action,
  type Task,
} from '../gen/cronplane/v1/task_pb.js';
import { parseDurationFlag, parseIntFlag, parseKeyValues } from './args.js';
import { durationFromMs } from './duration-text.js';
import { enumChoices, parseEnumLabel } from './enum-names.js';
import { UsageError } from './errors.js';

/** The flags that describe a task, shared by `tasks create` and `tasks update`. */
export const TASK_FLAG_OPTIONS = {
  cron: { type: 'string' },
  tz: { type: 'string' },
  publish: { type: 'string' },
  request: { type: 'string' },
  http: { type: 'string' },
  payload: { type: 'string' },
  method: { type: 'string' },
  body: { type: 'string' },
  header: { type: 'string', multiple: true },
  deadline: { type: 'string' },
  retries: { type: 'string' },
  backoff: { type: 'string' },
  overlap: { type: 'string' },
  misfire: { type: 'string' },
  'catchup-window': { type: 'string' },
  label: { type: 'string', multiple: true },
  description: { type: 'string' },
} as const;

/** Usage lines of the task flags, shared by create and update help. */
export const TASK_FLAGS_USAGE = `  --cron EXPR                cron expression: 5 fields, 6 (seconds first) or 7 (year last), or @daily...
  --tz ZONE                  IANA time zone the expression is read in (default UTC)
  --publish SUBJECT          action: publish on a NATS subject
  --request SUBJECT          action: NATS request/reply (a reply within the deadline is success)
  --http URL                 action: call an HTTP endpoint
  --payload TEXT             message body of --publish/--request
  --method M                 HTTP method of --http (default POST)
  --body TEXT                request body of --http
  --header k=v               extra header on the action (repeatable)
  --deadline DURATION        how long one attempt may take (default 60s)
  --retries N                retries after a failed first attempt (default 0)
  --backoff DURATION         wait before the first retry (default 1s, doubling)
  --overlap POLICY           ${enumChoices(OverlapPolicySchema).join('|')} (default skip)
  --misfire POLICY           ${enumChoices(MisfirePolicySchema).join('|')} (default run-once)
  --catchup-window DURATION  how late a missed run may still start (default 60s)
  --label k=v                label (repeatable)
  --description TEXT         free text for people
`;

/** The parsed values of the task flags (what parseArgs gives for TASK_FLAG_OPTIONS). */
export interface TaskFlagValues {
  cron?: string | undefined;
  tz?: string | undefined;
  publish?: string | undefined;
  request?: string | undefined;
  http?: string | undefined;
  payload?: string | undefined;
  method?: string | undefined;
  body?: string | undefined;
  header?: string[] | undefined;
  deadline?: string | undefined;
  retries?: string | undefined;
  backoff?: string | undefined;
  overlap?: string | undefined;
  misfire?: string | undefined;
  'catchup-window'?: string | undefined;
  label?: string[] | undefined;
  description?: string | undefined;
}

const text = new TextEncoder();

function enumFlag(desc: typeof OverlapPolicySchema | typeof MisfirePolicySchema, value: string, flag: string): number {
  const parsed = parseEnumLabel(desc, value);
  if (parsed === undefined) throw new UsageError(`${flag} takes one of ${enumChoices(desc).join(', ')}, got "${value}"`);
  return parsed;
}

/** Which action kind the flags choose, if any; two kinds at once is a usage error. */
function chosenKind(values: TaskFlagValues): 'natsPublish' | 'natsRequest' | 'http' | undefined {
  const kinds = (
    [
      ['natsPublish', values.publish],
      ['natsRequest', values.request],
      ['http', values.http],
    ] as const
  ).filter(([, v]) => v !== undefined);
  if (kinds.length > 1) throw new UsageError('choose one action: --publish, --request or --http');
  return kinds[0]?.[0];
}

/** Modifiers that only fit some kinds are refused instead of silently ignored. */
function checkModifiers(kind: Action['kind']['case'], values: TaskFlagValues): void {
  if (kind === 'http' && values.payload !== undefined) throw new UsageError('--payload is for NATS actions; an HTTP action takes --body');
  if (kind !== 'http' && kind !== undefined) {
    if (values.method !== undefined) throw new UsageError('--method is for HTTP actions (--http)');
    if (values.body !== undefined) throw new UsageError('--body is for HTTP actions; a NATS action takes --payload');
  }
}

/** The action the flags describe from scratch; undefined when no kind flag was given. */
function actionFromFlags(values: TaskFlagValues): Action | undefined {
  const kind = chosenKind(values);
  if (kind === undefined) return undefined;
  checkModifiers(kind, values);
  const headers = parseKeyValues(values.header, '--header');
  switch (kind) {
    case 'natsPublish':
      return create(ActionSchema, { kind: { case: kind, value: { subject: values.publish!, payload: text.encode(values.payload ?? ''), headers } } });
    case 'natsRequest':
      return create(ActionSchema, { kind: { case: kind, value: { subject: values.request!, payload: text.encode(values.payload ?? ''), headers } } });
    case 'http':
      return create(ActionSchema, {
        kind: { case: kind, value: { url: values.http!, method: values.method ?? '', body: text.encode(values.body ?? ''), headers } },
      });
  }
}

/** The current action with only the given modifier flags changed (headers merged), for `tasks update`. */
function modifiedAction(current: Action | undefined, values: TaskFlagValues): Action {
  const action = current === undefined ? create(ActionSchema) : clone(ActionSchema, current);
  const kind = action.kind;
  if (kind.case === undefined) throw new UsageError('the task has no action: give --publish, --request or --http');
  checkModifiers(kind.case, values);
  Object.assign(kind.value.headers, parseKeyValues(values.header, '--header'));
  if (kind.case === 'http') {
    if (values.method !== undefined) kind.value.method = values.method;
    if (values.body !== undefined) kind.value.body = text.encode(values.body);
  } else if (values.payload !== undefined) {
    kind.value.payload = text.encode(values.payload);
  }
  return action;
}

function retriesToAttempts(retries: string): number {
  return parseIntFlag(retries, '--retries', 0, 99) + 1;
}

/** `tasks create`: a whole task from flags; --cron and one action kind are required. */
export function taskFromFlags(name: string, values: TaskFlagValues, paused: boolean): MessageInitShape<typeof TaskSchema> {
  if (values.cron === undefined) throw new UsageError('--cron is required');
  const action = actionFromFlags(values);
  if (action === undefined) throw new UsageError('an action is required: --publish SUBJECT, --request SUBJECT or --http URL');
  const task: MessageInitShape<typeof TaskSchema> = {
    name,
    description: values.description ?? '',
    schedule: { cron: values.cron, timeZone: values.tz ?? '' },
    action,
    labels: parseKeyValues(values.label, '--label'),
    state: paused ? TaskState.PAUSED : TaskState.ENABLED,
  };
  if (values.deadline !== undefined) task.attemptDeadline = durationFromMs(parseDurationFlag(values.deadline, '--deadline'));
  if (values.retries !== undefined || values.backoff !== undefined) {
    task.retryPolicy = {
      maxAttempts: values.retries === undefined ? 0 : retriesToAttempts(values.retries),
      ...(values.backoff === undefined ? {} : { initialBackoff: durationFromMs(parseDurationFlag(values.backoff, '--backoff')) }),
    };
  }
  if (values.overlap !== undefined) task.overlapPolicy = enumFlag(OverlapPolicySchema, values.overlap, '--overlap');
  if (values.misfire !== undefined) task.misfirePolicy = enumFlag(MisfirePolicySchema, values.misfire, '--misfire');
  if (values['catchup-window'] !== undefined) {
    task.catchupWindow = durationFromMs(parseDurationFlag(values['catchup-window'], '--catchup-window'));
  }
  return task;
}

/** What `tasks update` sends: the task carrying the new values, the mask naming them, and an etag. */
export interface TaskUpdate {
  task: Task;
  paths: string[];
  /** Set when the update was computed from the current task (read-modify-write), so a concurrent change is ABORTED. */
  etag: string | undefined;
}

/**
 * `tasks update`: each flag given becomes one update_mask path, so fields not mentioned stay as
 * they are. Changing part of the action or adding labels needs the current task, read first.
 */
export async function taskUpdateFromFlags(
  name: string,
  values: TaskFlagValues & { 'remove-label'?: string[] | undefined },
  current: () => Promise<Task>,
): Promise<TaskUpdate> {
  const task = create(TaskSchema, { name });
  const paths: string[] = [];
  let etag: string | undefined;
  let currentTask: Promise<Task> | undefined;
  const read = async () => {
    currentTask ??= current();
    const t = await currentTask;
    etag = t.etag;
    return t;
  };
  if (values.cron !== undefined || values.tz !== undefined) {
    task.schedule = create(ScheduleSchema, { cron: values.cron ?? '', timeZone: values.tz ?? '' });
    if (values.cron !== undefined) paths.push('schedule.cron');
    if (values.tz !== undefined) paths.push('schedule.time_zone');
  }
  const fresh = actionFromFlags(values);
  if (fresh !== undefined) {
    task.action = fresh;
    paths.push('action');
  } else if ([values.payload, values.method, values.body, values.header].some((v) => v !== undefined)) {
    task.action = modifiedAction((await read()).action, values);
    paths.push('action');
  }
  if (values.deadline !== undefined) {
    task.attemptDeadline = durationFromMs(parseDurationFlag(values.deadline, '--deadline'));
    paths.push('attempt_deadline');
  }
  if (values.retries !== undefined || values.backoff !== undefined) {
    task.retryPolicy = create(RetryPolicySchema);
    if (values.retries !== undefined) {
      task.retryPolicy.maxAttempts = retriesToAttempts(values.retries);
      paths.push('retry_policy.max_attempts');
    }
    if (values.backoff !== undefined) {
      task.retryPolicy.initialBackoff = durationFromMs(parseDurationFlag(values.backoff, '--backoff'));
      paths.push('retry_policy.initial_backoff');
    }
  }
  if (values.overlap !== undefined) {
    task.overlapPolicy = enumFlag(OverlapPolicySchema, values.overlap, '--overlap');
    paths.push('overlap_policy');
  }
  if (values.misfire !== undefined) {
    task.misfirePolicy = enumFlag(MisfirePolicySchema, values.misfire, '--misfire');
    paths.push('misfire_policy');
  }
  if (values['catchup-window'] !== undefined) {
    task.catchupWindow = durationFromMs(parseDurationFlag(values['catchup-window'], '--catchup-window'));
    paths.push('catchup_window');
  }
  if (values.description !== undefined) {
    task.description = values.description;
    paths.push('description');
  }
  if (values.label !== undefined || values['remove-label'] !== undefined) {
    const added = parseKeyValues(values.label, '--label');
    const labels = { ...(await read()).labels, ...added };
    for (const key of values['remove-label'] ?? []) {
      if (Object.hasOwn(added, key)) throw new UsageError(`--label ${key} and --remove-label ${key} contradict each other`);
      delete labels[key];
    }
    task.labels = labels;
    paths.push('labels');
  }
  if (paths.length === 0) throw new UsageError('nothing to change: give at least one task flag (--cron, --publish, --retries, --label, ...)');
  return { task, paths, etag };
}
