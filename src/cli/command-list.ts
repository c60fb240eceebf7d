import type { CliCommand } from './command.js';
import { executionsCancelCommand } from './commands/executions-cancel.js';
import { executionsGetCommand } from './commands/executions-get.js';
import { executionsListCommand } from './commands/executions-list.js';
import { executionsWatchCommand } from './commands/executions-watch.js';
import { previewCommand } from './commands/preview.js';
import { tasksApplyCommand } from './commands/tasks-apply.js';
import { tasksCreateCommand } from './commands/tasks-create.js';
import { tasksDeleteCommand } from './commands/tasks-delete.js';
import { tasksGetCommand } from './commands/tasks-get.js';
import { tasksListCommand } from './commands/tasks-list.js';
import { tasksPauseCommand } from './commands/tasks-pause.js';
import { tasksResumeCommand } from './commands/tasks-resume.js';
import { tasksRunCommand } from './commands/tasks-run.js';
import { tasksUpdateCommand } from './commands/tasks-update.js';

/** The client commands by group, in the order help lists them (`serve` is dispatched apart). */
export const COMMAND_GROUPS: ReadonlyMap<string, readonly CliCommand[]> = new Map([
  [
    'tasks',
    [
      tasksListCommand,
      tasksGetCommand,
      tasksCreateCommand,
      tasksUpdateCommand,
      tasksDeleteCommand,
      tasksPauseCommand,
      tasksResumeCommand,
      tasksRunCommand,
      tasksApplyCommand,
    ],
  ],
  ['executions', [executionsListCommand, executionsGetCommand, executionsCancelCommand, executionsWatchCommand]],
]);

/** Commands that stand alone, without a group word. */
export const TOP_LEVEL_COMMANDS: readonly CliCommand[] = [previewCommand];
