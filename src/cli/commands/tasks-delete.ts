import { DeleteTaskResponseSchema } from '../../gen/cronplane/v1/scheduler_service_pb.js';
import { expectPositionals } from '../args.js';
import { defineCommand } from '../command.js';
import { EXIT_OK } from '../errors.js';

/** `cronplane tasks delete`: remove a task; its history stays readable. */
export const tasksDeleteCommand = defineCommand({
  name: 'tasks delete',
  summary: 'delete a task (running executions are cancelled, history stays)',
  usage: 'usage: cronplane tasks delete NAME\n',
  options: {},
  async run(ctx, _values, positionals) {
    const [name] = expectPositionals(positionals, ['NAME'], ctx.usage);
    const res = await ctx.client().deleteTask({ name: name! });
    if (ctx.json) ctx.printJson(DeleteTaskResponseSchema, res);
    else ctx.out(`deleted task ${name}\n`);
    return EXIT_OK;
  },
});
