import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV, Kvm } from '@nats-io/kv';
import type { Logger } from 'pino';
import type { Execution } from '../../domain/execution.js';
import { CLAIM_MAX_AGE_MS } from './jetstream-store-options.js';
import { openBucket } from './kv-bucket.js';
import { kvKeyToken } from './kv-key.js';
import { isWrongLastSequence, retryTransient, withDeadline } from './nats-errors.js';

/**
 * How long a claim keeps trying through transient failures (a NATS node down and its streams
 * electing a new leader) when the caller gives no deadline: giving up means the occurrence
 * does not run at all.
 */
const CLAIM_DEADLINE_MS = 20_000;

/**
 * What a final-state claim found: `created` (this call decided it), `held` (this replica had
 * already decided the very same: an earlier try that landed, or a restatement), or `refused`
 * (somebody else decided, or this replica decided another state).
 */
export type FinalClaim = 'created' | 'held' | 'refused';

/**
 * Decisions that must be taken once across all replicas, as atomic KV creates in one bucket
 * (max_age 7 days): whoever creates the key first has it, everyone else is refused.
 * - `occurrence.<task>.<scheduled ms>`: who executes an occurrence (exactly once);
 * - `final.<execution id>`: who ends an execution, and in which state. One final state per
 *   execution even when replicas disagree about who is alive (two survivors marking a dead
 *   replica's execution LOST, or the "dead" owner finishing it after all).
 */
export class ClaimBook {
  private constructor(
    private readonly kv: KV,
    private readonly node: string,
  ) {}

  static async open(kvm: Kvm, jsm: JetStreamManager, bucket: string, replicas: number, node: string, log: Logger): Promise<ClaimBook> {
    // allow_direct off: reads go to the stream leader, so a refused create never reads a stale follower.
    const kv = await openBucket(kvm, jsm, bucket, { replicas, ttlMs: CLAIM_MAX_AGE_MS, allowDirect: false }, log);
    return new ClaimBook(kv, node);
  }

  /**
   * True when this replica now owns the occurrence of `execution` (also when an earlier try of
   * this very claim landed). Throws (transient NATS errors) once `deadlineMs` has passed.
   */
  async claimOccurrence(execution: Execution, deadlineMs = CLAIM_DEADLINE_MS): Promise<boolean> {
    const key = `occurrence.${kvKeyToken(execution.taskName)}.${kvKeyToken(String(execution.scheduledTime))}`;
    return (await this.createOnce(key, JSON.stringify({ execution: execution.id, node: this.node }), deadlineMs)) !== 'refused';
  }

  /**
   * Whether this replica may record `execution` in its (final) state: nobody ended it yet, or
   * this replica ended it in the same state before (a retried write, or re-recording it with
   * more detail). Throws (transient NATS errors) once `deadlineMs` has passed.
   */
  async claimFinal(execution: Execution, deadlineMs = CLAIM_DEADLINE_MS): Promise<FinalClaim> {
    const key = `final.${kvKeyToken(execution.id)}`;
    return this.createOnce(key, JSON.stringify({ state: execution.state, node: this.node }), deadlineMs);
  }

  /**
   * Create `key` with `value`, or find it already holding exactly `value`: that is this
   * replica's own earlier create (one that timed out after landing, retried) or, for a final
   * state, this replica restating it. Any other value means somebody else has it.
   * A put expecting revision 0 is the create: unlike kv.create it is one request, with our
   * timeout (claims are never deleted, only expire, so there is no delete marker to reuse).
   */
  private createOnce(key: string, value: string, deadlineMs: number): Promise<FinalClaim> {
    return retryTransient(async (timeoutMs) => {
      try {
        await this.kv.put(key, value, { previousSeq: 0, timeout: timeoutMs });
        return 'created';
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err;
        const entry = await withDeadline(this.kv.get(key), timeoutMs, 'read a claim');
        return entry !== null && entry.operation === 'PUT' && entry.string() === value ? 'held' : 'refused';
      }
    }, deadlineMs);
  }
}
