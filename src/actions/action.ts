import type { ActionSpec } from '../domain/task.js';

/** What an action gets besides its spec: the run headers and the signal that stops it. */
export interface ActionContext {
  /** Cronplane-Task, Cronplane-Execution-Id, Cronplane-Scheduled-Time, Cronplane-Attempt, Idempotency-Key. */
  runHeaders: Record<string, string>;
  /** Aborts on the attempt deadline, cancellation and shutdown; actions must honour it. */
  signal: AbortSignal;
  /** The attempt deadline in ms, for clients that need a timeout of their own (NATS request). */
  timeoutMs: number;
}

/** Output of a successful attempt (a reply or response body, truncated). */
export interface ActionResult {
  output: string;
}

/** A failed attempt; `message` is shown to users as the execution's error. */
export class ActionFailedError extends Error {
  constructor(message: string, readonly output = '', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ActionFailedError';
  }
}

/** Runs one attempt of one kind of action. Throws ActionFailedError (or aborts) on failure. */
export interface ActionExecutor {
  execute(action: ActionSpec, context: ActionContext): Promise<ActionResult>;
}

/** Outputs are kept in history and events; this bounds them. */
export const MAX_OUTPUT_BYTES = 4096;

export function truncateOutput(bytes: Uint8Array): string {
  const slice = bytes.length > MAX_OUTPUT_BYTES ? bytes.subarray(0, MAX_OUTPUT_BYTES) : bytes;
  return new TextDecoder('utf-8', { fatal: false }).decode(slice);
}
