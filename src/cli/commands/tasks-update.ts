import { UpdateTaskResponseSchema } from '../../gen/cronplane/v1/scheduler_service_pb.js';
import { expectPositionals } from '../args.js';
import { defineCommand } from '../command.js';
import { EXIT_OK } from '../errors.js';
import { TASK_FLAG_OPTIONS, TASK_FLAGS_USAGE, taskUpdateFromFlags } from '../task-flags.js';
import { nextRunSummary } from '../task-view.js';

/** `cronplane tasks update`: change only what the flags name (each flag is one update_mask path). */
export const tasksUpdateCommand = defineCommand({
  name: 'tasks update',
  summary: 'change the fields the flags name',
  usage: `usage: cronplane tasks update NAME [options]

Only the fields given change. --publish/--request/--http replace the whole action; --payload,
--method, --body and --header alone change the current action (headers are added). --label adds
or changes labels, --remove-label KEY removes one.

options:
${TASK_FLAGS_USAGE}  --remove-label KEY         remove a label (repeatable)
`,
  options: { ...TASK_FLAG_OPTIONS, 'remove-label': { type: 'string', multiple: true } },
  async run(ctx, values, positionals) {
    const [name] = expectPositionals(positionals, ['NAME'], ctx.usage);
    const client = ctx.client();
    const update = await taskUpdateFromFlags(name!, values, async () => (await client.getTask({ name: name! })).task!);
    const res = await client.updateTask({
      task: update.task,
      updateMask: { paths: update.paths },
      ...(update.etag === undefined ? {} : { etag: update.etag }),
    });
    if (ctx.json) ctx.printJson(UpdateTaskResponseSchema, res);
    else ctx.out(`updated task ${name} (${update.paths.join(', ')}): ${nextRunSummary(res.task!, ctx.now())}\n`);
    return EXIT_OK;
  },
});
