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
  return err instanceof TimeoutError || err instanceof NoRespondersError || err instanceof RequestError;
}

/**
 * Run `op` again on transient failures until `deadlineMs` has passed, backing off up to 1 s.
 * Only for operations that are safe to repeat (idempotent, or disambiguated by the caller).
 */
export async function retryTransient<T>(op: () => Promise<T>, deadlineMs: number): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      if (!isTransient(err) || Date.now() >= deadline) throw err;
      await new Promise((r) => setTimeout(r, Math.min(1_000, 50 * 2 ** attempt)));
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
