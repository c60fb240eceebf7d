import { ResumeTaskResponseSchema } from '../../gen/cronplane/v1/scheduler_service_pb.js';
import { expectPositionals } from '../args.js';
import { defineCommand } from '../command.js';
import { EXIT_OK } from '../errors.js';
import { nextRunSummary } from '../task-view.js';

/** `cronplane tasks resume`: let a paused task fire again from now on. */
export const tasksResumeCommand = defineCommand({
  name: 'tasks resume',
  summary: 'let a paused task fire again from now on',
  usage: 'usage: cronplane tasks resume NAME\n',
  options: {},
  async run(ctx, _values, positionals) {
    const [name] = expectPositionals(positionals, ['NAME'], ctx.usage);
    const res = await ctx.client().resumeTask({ name: name! });
    if (ctx.json) ctx.printJson(ResumeTaskResponseSchema, res);
    else ctx.out(`resumed task ${name}: ${nextRunSummary(res.task!, ctx.now())}\n`);
    return EXIT_OK;
  },
});
