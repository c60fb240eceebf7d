import { CancelExecutionResponseSchema } from '../../gen/cronplane/v1/scheduler_service_pb.js';
import { ExecutionStateSchema } from '../../gen/cronplane/v1/execution_pb.js';
import { expectPositionals } from '../args.js';
import { defineCommand } from '../command.js';
import { enumLabel } from '../enum-names.js';
import { EXIT_OK } from '../errors.js';

/** `cronplane executions cancel`: stop a pending, running or retrying execution. */
export const executionsCancelCommand = defineCommand({
  name: 'executions cancel',
  summary: 'cancel a pending, running or retrying execution',
  usage: 'usage: cronplane executions cancel ID\n',
  options: {},
  async run(ctx, _values, positionals) {
    const [id] = expectPositionals(positionals, ['ID'], ctx.usage);
    const res = await ctx.client().cancelExecution({ id: id! });
    const e = res.execution!;
    if (ctx.json) ctx.printJson(CancelExecutionResponseSchema, res);
    else ctx.out(`cancelled execution ${e.id} of task ${e.taskName} (${ctx.style.state(enumLabel(ExecutionStateSchema, e.state))})\n`);
    return EXIT_OK;
  },
});
