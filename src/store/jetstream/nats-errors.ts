import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { NoRespondersError, RequestError, TimeoutError } from '@nats-io/transport-node';
import { DomainError, UnavailableError } from '../../domain/errors.js';

/** A KV create/update/delete lost its compare-and-set: the key is not at the expected revision. */
export function isWrongLastSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/**
 * Failures that pass: a request timed out or found nobody (a stream leader being elected after
 * a NATS node went down, a reconnect in progress), or JetStream said it is temporarily
 * unavailable. A closed connection or a refusal is not transient.
 */
export function isTransient(err: unknown): boolean {
  if (err instanceof JetStreamApiError) return err.status === 503;
  // js.publish reports "no responders" (no stream leader right now) as JetStreamNotEnabled,
  // a class the package does not export.
  if (err instanceof Error && err.name === 'JetStreamNotEnabled') return true;
  return err instanceof TimeoutError || err instanceof NoRespondersError || err instanceof RequestError || err instanceof DeadlineExceededError;
}

/** A store step that did not settle in its time (a NATS call that never answered). */
export class DeadlineExceededError extends Error {
  constructor(what: string, ms: number) {
    super(`${what}: no answer within ${ms} ms`);
    this.name = 'DeadlineExceededError';
  }
}

/**
 * `promise`, or a DeadlineExceededError once `ms` have passed: a guard for calls whose own
 * timeout is not ours to set (or not trusted). The call itself is not cancelled; `onLate` gets
 * its result if it arrives after the deadline (to release what it holds).
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, what: string, onLate?: (value: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      reject(new DeadlineExceededError(what, ms));
    }, Math.max(0, ms));
    promise.then(
      (value) => {
        clearTimeout(timer);
        if (late) onLate?.(value);
        else resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        if (!late) reject(err);
      },
    );
  });
}

/** Shortest try worth starting when little time is left. */
const MIN_TRY_MS = 250;

/**
 * Run `op` again on transient failures until `deadlineMs` has passed, backing off up to 1 s.
 * Each try is given `tryTimeoutMs` (less when the deadline is nearer) and is guarded by it, so
 * the whole call settles within about `deadlineMs` (+ MIN_TRY_MS): no try starts after the
 * deadline and none outlives it by much. Only for operations that are safe to repeat
 * (idempotent, or disambiguated by the caller), since a try that timed out may have landed.
 */
export async function retryTransient<T>(op: (timeoutMs: number) => Promise<T>, deadlineMs: number, tryTimeoutMs = 3_000): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (let attempt = 0; ; attempt++) {
    const timeoutMs = Math.max(MIN_TRY_MS, Math.min(tryTimeoutMs, deadline - Date.now()));
    try {
      // The guard leaves the call a little more than its own timeout, to report its own error.
      return await withDeadline(op(timeoutMs), timeoutMs + 500, 'a NATS request');
    } catch (err) {
      const pause = Math.min(1_000, 50 * 2 ** attempt);
      if (!isTransient(err) || Date.now() + pause >= deadline) throw err;
      await new Promise((r) => setTimeout(r, pause));
    }
  }
}

/**
 * Domain errors pass; anything else from NATS (timeouts, no responders, connection closed)
 * becomes UnavailableError, so a client sees UNAVAILABLE (retry) rather than INTERNAL.
 */
export function asStoreError(err: unknown, what: string): Error {
  if (err instanceof DomainError) return err;
  return new UnavailableError(`the JetStream store could not ${what}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}
