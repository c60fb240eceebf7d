import { GetTaskResponseSchema } from '../../gen/cronplane/v1/scheduler_service_pb.js';
import { expectPositionals } from '../args.js';
import { defineCommand } from '../command.js';
import { EXIT_OK } from '../errors.js';
import { renderTaskDetails } from '../task-view.js';

/** `cronplane tasks get`: one task in full. */
export const tasksGetCommand = defineCommand({
  name: 'tasks get',
  summary: 'show one task in full',
  usage: 'usage: cronplane tasks get NAME\n',
  options: {},
  async run(ctx, _values, positionals) {
    const [name] = expectPositionals(positionals, ['NAME'], ctx.usage);
    const res = await ctx.client().getTask({ name: name! });
    if (ctx.json) ctx.printJson(GetTaskResponseSchema, res);
    else ctx.out(renderTaskDetails(res.task!, ctx.now(), ctx.style));
    return EXIT_OK;
  },
});
