import { PauseTaskResponseSchema } from '../../gen/cronplane/v1/scheduler_service_pb.js';
import { expectPositionals } from '../args.js';
import { defineCommand } from '../command.js';
import { EXIT_OK } from '../errors.js';

/** `cronplane tasks pause`: stop a task firing on schedule, saying why for the next person. */
export const tasksPauseCommand = defineCommand({
  name: 'tasks pause',
  summary: 'stop a task firing on its schedule',
  usage: `usage: cronplane tasks pause NAME [--reason TEXT]

options:
  --reason TEXT   why, shown with the task's state
`,
  options: { reason: { type: 'string' } },
  async run(ctx, values, positionals) {
    const [name] = expectPositionals(positionals, ['NAME'], ctx.usage);
    const res = await ctx.client().pauseTask({ name: name!, reason: values.reason ?? '' });
    if (ctx.json) ctx.printJson(PauseTaskResponseSchema, res);
    else ctx.out(`paused task ${name}${values.reason === undefined ? '' : ` (${values.reason})`}\n`);
    return EXIT_OK;
  },
});
