import type { ActionSpec } from '../domain/task.js';
import type { ActionContext, ActionExecutor, ActionResult } from './action.js';
import { runHttp, type HttpActionOptions } from './http-action.js';
import type { NatsConnectionSource } from './nats-connection-source.js';
import { runNatsPublish } from './nats-publish-action.js';
import { runNatsRequest } from './nats-request-action.js';

/** Settings of the action kinds that have any: the HTTP target allowlist, checked at every run. */
export interface ActionDispatcherOptions {
  http?: HttpActionOptions;
}

/** The production ActionExecutor: one function per action kind, chosen by the spec's kind. */
export class ActionDispatcher implements ActionExecutor {
  constructor(private readonly nats: NatsConnectionSource, private readonly options: ActionDispatcherOptions = {}) {}

  execute(action: ActionSpec, context: ActionContext): Promise<ActionResult> {
    switch (action.kind) {
      case 'natsPublish':
        return runNatsPublish(action, context, this.nats);
      case 'natsRequest':
        return runNatsRequest(action, context, this.nats);
      case 'http':
        return runHttp(action, context, this.options.http);
    }
  }
}
