import { create } from '@bufbuild/protobuf';
import { ListTasksResponseSchema } from '../../gen/cronplane/v1/scheduler_service_pb.js';
import type { Task } from '../../gen/cronplane/v1/task_pb.js';
import type { SchedulerClient } from '../../client/scheduler-client.js';
import { expectPositionals, parseIntFlag } from '../args.js';
import { defineCommand } from '../command.js';
import { EXIT_OK } from '../errors.js';
import { renderTaskTable } from '../task-view.js';

const MAX_PAGE = 1000;

/** Every task matching a filter, following next_page_token; stops early at `limit`. */
export async function listAllTasks(client: SchedulerClient, filter: string, limit = Infinity): Promise<Task[]> {
  const tasks: Task[] = [];
  let pageToken = '';
  do {
    const pageSize = Math.min(MAX_PAGE, limit - tasks.length);
    const res = await client.listTasks({ filter, pageSize, pageToken });
    tasks.push(...res.tasks.slice(0, limit - tasks.length));
    pageToken = res.nextPageToken;
  } while (pageToken !== '' && tasks.length < limit);
  return tasks;
}

/** `cronplane tasks list`: the task table, or every task as JSON. */
export const tasksListCommand = defineCommand({
  name: 'tasks list',
  summary: 'list tasks as a table',
  usage: `usage: cronplane tasks list [--filter EXPR] [--limit N]

options:
  --filter EXPR   terms joined by AND: state=PAUSED, labels.team=billing, name=backup*
  --limit N       at most N tasks (default: all, page by page)
`,
  options: { filter: { type: 'string' }, limit: { type: 'string' } },
  async run(ctx, values, positionals) {
    expectPositionals(positionals, [], ctx.usage);
    const limit = values.limit === undefined ? Infinity : parseIntFlag(values.limit, '--limit', 1);
    const tasks = await listAllTasks(ctx.client(), values.filter ?? '', limit);
    if (ctx.json) ctx.printJson(ListTasksResponseSchema, create(ListTasksResponseSchema, { tasks }));
    else if (tasks.length === 0) ctx.err(values.filter === undefined ? 'no tasks\n' : 'no tasks match the filter\n');
    else ctx.out(renderTaskTable(tasks, ctx.now(), ctx.style));
    return EXIT_OK;
  },
});
