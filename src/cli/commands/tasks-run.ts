import { RunTaskResponseSchema } from '../../gen/cronplane/v1/scheduler_service_pb.js';
import { ExecutionStateSchema } from '../../gen/cronplane/v1/execution_pb.js';
import { expectPositionals } from '../args.js';
import { defineCommand } from '../command.js';
import { enumLabel } from '../enum-names.js';
import { EXIT_OK } from '../errors.js';

/** `cronplane tasks run`: run a task now (also a paused one), printing the execution id to follow. */
export const tasksRunCommand = defineCommand({
  name: 'tasks run',
  summary: 'run a task now (trigger MANUAL)',
  usage: `usage: cronplane tasks run NAME

Prints the new execution's id; follow it with \`cronplane executions get ID\`.
`,
  options: {},
  async run(ctx, _values, positionals) {
    const [name] = expectPositionals(positionals, ['NAME'], ctx.usage);
    const res = await ctx.client().runTask({ name: name! });
    const e = res.execution!;
    if (ctx.json) ctx.printJson(RunTaskResponseSchema, res);
    else ctx.out(`started execution ${e.id} of task ${name} (${ctx.style.state(enumLabel(ExecutionStateSchema, e.state))})\n`);
    return EXIT_OK;
  },
});
