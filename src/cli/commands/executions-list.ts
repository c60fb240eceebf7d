import { create } from '@bufbuild/protobuf';
import { ExecutionStateSchema, type Execution, type ExecutionState } from '../../gen/cronplane/v1/execution_pb.js';
import { ListExecutionsResponseSchema } from '../../gen/cronplane/v1/scheduler_service_pb.js';
import { expectPositionals, parseIntFlag } from '../args.js';
import { defineCommand } from '../command.js';
import { enumChoices, parseEnumLabel } from '../enum-names.js';
import { EXIT_OK, UsageError } from '../errors.js';
import { renderExecutionTable } from '../execution-view.js';

/** How many executions a person wants to see by default: the recent ones, not a task's whole history. */
const DEFAULT_LIMIT = 20;
const MAX_PAGE = 1000;

/** "failed,timed-out" into execution states; an unknown name is a usage error listing the right ones. */
export function parseStatesFlag(texts: readonly string[] | undefined): ExecutionState[] {
  const states: ExecutionState[] = [];
  for (const part of (texts ?? []).flatMap((t) => t.split(','))) {
    if (part.trim() === '') continue;
    const state = parseEnumLabel(ExecutionStateSchema, part) as ExecutionState | undefined;
    if (state === undefined) throw new UsageError(`--state takes ${enumChoices(ExecutionStateSchema).join(', ')}; got "${part}"`);
    if (!states.includes(state)) states.push(state);
  }
  return states;
}

/** `cronplane executions list`: recent history, newest first. */
export const executionsListCommand = defineCommand({
  name: 'executions list',
  summary: 'list executions, newest first',
  usage: `usage: cronplane executions list [--task NAME] [--state STATE,...] [--limit N]

options:
  --task NAME        only this task's executions
  --state STATES     only these states, comma-separated: ${enumChoices(ExecutionStateSchema).join(',')}
  --limit N          at most N executions (default ${DEFAULT_LIMIT})
`,
  options: { task: { type: 'string' }, state: { type: 'string', multiple: true }, limit: { type: 'string' } },
  async run(ctx, values, positionals) {
    expectPositionals(positionals, [], ctx.usage);
    const limit = values.limit === undefined ? DEFAULT_LIMIT : parseIntFlag(values.limit, '--limit', 1);
    const states = parseStatesFlag(values.state);
    const client = ctx.client();
    const executions: Execution[] = [];
    let pageToken = '';
    do {
      const res = await client.listExecutions({
        taskName: values.task ?? '',
        states,
        pageSize: Math.min(MAX_PAGE, limit - executions.length),
        pageToken,
      });
      executions.push(...res.executions.slice(0, limit - executions.length));
      pageToken = res.nextPageToken;
    } while (pageToken !== '' && executions.length < limit);
    if (ctx.json) ctx.printJson(ListExecutionsResponseSchema, create(ListExecutionsResponseSchema, { executions }));
    else if (executions.length === 0) ctx.err('no executions\n');
    else ctx.out(renderExecutionTable(executions, ctx.now(), ctx.style));
    return EXIT_OK;
  },
});
