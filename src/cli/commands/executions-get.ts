import { GetExecutionResponseSchema } from '../../gen/cronplane/v1/scheduler_service_pb.js';
import { expectPositionals } from '../args.js';
import { defineCommand } from '../command.js';
import { EXIT_OK } from '../errors.js';
import { renderExecutionDetails } from '../execution-view.js';

/** `cronplane executions get`: one execution with its attempts and output. */
export const executionsGetCommand = defineCommand({
  name: 'executions get',
  summary: 'show one execution with its attempts and output',
  usage: 'usage: cronplane executions get ID\n',
  options: {},
  async run(ctx, _values, positionals) {
    const [id] = expectPositionals(positionals, ['ID'], ctx.usage);
    const res = await ctx.client().getExecution({ id: id! });
    if (ctx.json) ctx.printJson(GetExecutionResponseSchema, res);
    else ctx.out(renderExecutionDetails(res.execution!, ctx.now(), ctx.style));
    return EXIT_OK;
  },
});
