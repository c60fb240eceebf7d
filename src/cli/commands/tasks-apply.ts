import { status } from '@grpc/grpc-js';
import type { SchedulerClient } from '../../client/scheduler-client.js';
import { TaskState, type Task } from '../../gen/cronplane/v1/task_pb.js';
import { expectPositionals, parseKeyValue } from '../args.js';
import { formatPlanStep, planApply, summarizePlan, type PlanStep } from '../apply-plan.js';
import { defineCommand, type CommandContext } from '../command.js';
import { ContextError, EXIT_OK, isServiceError, UsageError } from '../errors.js';
import { readTaskFile, type FileTask } from '../task-file.js';
import { listAllTasks } from './tasks-list.js';

/** Reads run this many at a time: quick for a file of hundreds of tasks, gentle on the service. */
const READ_CONCURRENCY = 16;

async function currentTasks(client: SchedulerClient, desired: readonly FileTask[]): Promise<Map<string, Task>> {
  const found = new Map<string, Task>();
  for (let i = 0; i < desired.length; i += READ_CONCURRENCY) {
    await Promise.all(
      desired.slice(i, i + READ_CONCURRENCY).map(async (d) => {
        try {
          found.set(d.name, (await client.getTask({ name: d.name })).task!);
        } catch (err) {
          if (isServiceError(err) && err.code === status.NOT_FOUND) return;
          throw new ContextError(`task ${d.name}`, err);
        }
      }),
    );
  }
  return found;
}

/** A label selector value quoted for the ListTasks filter language. */
function selectorFilter(key: string, value: string): string {
  return `labels.${key}="${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

async function execute(client: SchedulerClient, step: PlanStep): Promise<void> {
  switch (step.kind) {
    case 'create':
      await client.createTask({ task: step.desired.task });
      return;
    case 'update': {
      const paths = step.changes.filter((p) => p !== 'state');
      if (paths.length > 0) {
        // The etag read while planning: if someone changed the task since, the update is ABORTED.
        await client.updateTask({ task: step.desired.task, updateMask: { paths }, etag: step.current.etag });
      }
      if (step.changes.includes('state')) {
        if (step.desired.task.state === TaskState.PAUSED) await client.pauseTask({ name: step.name, reason: 'tasks apply' });
        else await client.resumeTask({ name: step.name });
      }
      return;
    }
    case 'delete':
      await client.deleteTask({ name: step.name, etag: step.current.etag });
      return;
    case 'unchanged':
      return;
  }
}

function stepJson(step: PlanStep): Record<string, unknown> {
  return { action: step.kind, task: step.name, ...(step.kind === 'update' ? { changes: step.changes } : {}) };
}

function report(ctx: CommandContext, steps: readonly PlanStep[], dryRun: boolean, file: string): void {
  if (ctx.json) {
    ctx.out(`${JSON.stringify({ file, dryRun, steps: steps.map(stepJson) }, null, 2)}\n`);
  } else {
    ctx.out(dryRun ? `dry run, nothing changed: ${summarizePlan(steps, false)}\n` : `${summarizePlan(steps, true)}\n`);
  }
}

/**
 * `cronplane tasks apply`: make the service match a task file, so schedules live in git.
 * Idempotent: only fields the file sets are compared, and a second run changes nothing.
 */
export const tasksApplyCommand = defineCommand({
  name: 'tasks apply',
  summary: 'create or update tasks to match a YAML/JSON file',
  usage: `usage: cronplane tasks apply -f FILE [--dry-run] [--prune --selector KEY=VALUE]

Creates the file's tasks that do not exist and updates those that differ, comparing only the
fields the file sets; a second run says "unchanged" for every task. See docs/cli.md for the format.

options:
  -f, --file FILE          YAML or JSON with a top-level "tasks:" list ("-" reads stdin)
  --dry-run                print the plan (create/update/unchanged/delete), change nothing
  --prune                  delete tasks with the --selector label that the file no longer lists
  --selector KEY=VALUE     the label that marks the tasks this file owns (required by --prune)
`,
  options: {
    file: { type: 'string', short: 'f' },
    'dry-run': { type: 'boolean' },
    prune: { type: 'boolean' },
    selector: { type: 'string' },
  },
  async run(ctx, values, positionals) {
    expectPositionals(positionals, [], ctx.usage);
    if (values.file === undefined) throw new UsageError('-f FILE is required', ctx.usage);
    if (values.prune === true && values.selector === undefined) {
      throw new UsageError('--prune needs --selector KEY=VALUE: it deletes only tasks carrying that label', ctx.usage);
    }
    if (values.selector !== undefined && values.prune !== true) throw new UsageError('--selector only applies with --prune', ctx.usage);
    const selector = values.selector === undefined ? undefined : parseKeyValue(values.selector, '--selector');
    const dryRun = values['dry-run'] === true;
    const desired = readTaskFile(values.file);
    if (selector !== undefined && !ctx.json) {
      const [key, value] = selector;
      for (const d of desired) {
        if (d.task.labels[key] !== value) ctx.err(`warning: ${d.name} does not carry the label ${key}=${value}; --prune with it will not see this task\n`);
      }
    }

    const client = ctx.client();
    const current = await currentTasks(client, desired);
    const candidates =
      selector === undefined
        ? []
        : (await listAllTasks(client, selectorFilter(...selector))).filter((t) => t.labels[selector[0]] === selector[1]);
    const steps = planApply(desired, current, candidates);
    const nameWidth = Math.max(0, ...steps.map((s) => s.name.length));

    if (dryRun) {
      if (!ctx.json) for (const step of steps) ctx.out(`${formatPlanStep(step, false, ctx.style, nameWidth)}\n`);
      report(ctx, steps, true, values.file);
      return EXIT_OK;
    }
    for (const step of steps) {
      try {
        await execute(client, step);
      } catch (err) {
        throw new ContextError(`task ${step.name}`, err);
      }
      if (!ctx.json) ctx.out(`${formatPlanStep(step, true, ctx.style, nameWidth)}\n`);
    }
    report(ctx, steps, false, values.file);
    return EXIT_OK;
  },
});
