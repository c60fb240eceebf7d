import { randomUUID } from 'node:crypto';
import { CreateTaskResponseSchema } from '../../gen/cronplane/v1/scheduler_service_pb.js';
import { expectPositionals } from '../args.js';
import { defineCommand } from '../command.js';
import { EXIT_OK } from '../errors.js';
import { TASK_FLAG_OPTIONS, TASK_FLAGS_USAGE, taskFromFlags } from '../task-flags.js';
import { nextRunSummary } from '../task-view.js';

/** `cronplane tasks create`: one task from flags, for people who do not keep a file. */
export const tasksCreateCommand = defineCommand({
  name: 'tasks create',
  summary: 'create a task from flags',
  usage: `usage: cronplane tasks create NAME --cron EXPR (--publish SUBJECT | --request SUBJECT | --http URL) [options]

options:
${TASK_FLAGS_USAGE}  --paused                   create it paused (it does not fire until resumed)
`,
  options: { ...TASK_FLAG_OPTIONS, paused: { type: 'boolean' } },
  async run(ctx, values, positionals) {
    const [name] = expectPositionals(positionals, ['NAME'], ctx.usage);
    const task = taskFromFlags(name!, values, values.paused === true);
    // A request id makes the create safe to retry by hand after a lost answer.
    const res = await ctx.client().createTask({ task, requestId: randomUUID() });
    if (ctx.json) ctx.printJson(CreateTaskResponseSchema, res);
    else ctx.out(`created task ${name}: ${nextRunSummary(res.task!, ctx.now())}\n`);
    return EXIT_OK;
  },
});
