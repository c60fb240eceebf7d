import { ActionFailedError, type ActionContext, type ActionExecutor, type ActionResult } from '../../src/actions/action.js';
import type { ActionSpec } from '../../src/domain/task.js';
import type { Clock } from '../../src/engine/clock.js';

export interface ActionCall {
  action: ActionSpec;
  headers: Record<string, string>;
  signal: AbortSignal;
  at: number;
}

/** What a scripted attempt does: succeed, fail, or take `ms` of (fake) time, honouring the signal. */
export type Step = { ok: string } | { fail: string } | { takeMs: number; then?: Step } | { hang: true };

/**
 * The engine's action port driven by a script, for engine logic on a fake clock. Real NATS and
 * HTTP actions are tested against real servers in test/integration.
 */
export class ScriptedActions implements ActionExecutor {
  readonly calls: ActionCall[] = [];
  private script: Step[] = [];

  constructor(private readonly clock: Clock, private readonly fallback: Step = { ok: 'done' }) {}

  /** Steps used by the next calls, in order; after them, the fallback. */
  queue(...steps: Step[]): void {
    this.script.push(...steps);
  }

  execute(action: ActionSpec, context: ActionContext): Promise<ActionResult> {
    this.calls.push({ action, headers: context.runHeaders, signal: context.signal, at: this.clock.now() });
    return this.perform(this.script.shift() ?? this.fallback, context.signal);
  }

  private perform(step: Step, signal: AbortSignal): Promise<ActionResult> {
    if ('ok' in step) return Promise.resolve({ output: step.ok });
    if ('fail' in step) return Promise.reject(new ActionFailedError(step.fail));
    return new Promise((resolve, reject) => {
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      if ('takeMs' in step) {
        this.clock.setTimer(() => this.perform(step.then ?? this.fallback, signal).then(resolve, reject), step.takeMs);
      }
    });
  }
}
