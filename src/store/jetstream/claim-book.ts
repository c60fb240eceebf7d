import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV, Kvm } from '@nats-io/kv';
import type { Logger } from 'pino';
import type { Execution } from '../../domain/execution.js';
import { CLAIM_MAX_AGE_MS } from './jetstream-store-options.js';
import { openBucket } from './kv-bucket.js';
import { kvKeyToken } from './kv-key.js';
import { isWrongLastSequence, retryTransient } from './nats-errors.js';

/**
 * How long a claim keeps trying through transient failures (a NATS node down and its streams
 * electing a new leader): giving up means the occurrence does not run at all.
 */
const CLAIM_DEADLINE_MS = 20_000;

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

  /** True when this replica now owns the occurrence of `execution`. */
  async claimOccurrence(execution: Execution): Promise<boolean> {
    const key = `occurrence.${kvKeyToken(execution.taskName)}.${kvKeyToken(String(execution.scheduledTime))}`;
    return this.createOnce(key, JSON.stringify({ execution: execution.id, node: this.node }));
  }

  /**
   * True when this replica may record `execution` in its (final) state: nobody ended it yet, or
   * this replica ended it in the same state before (re-recording it, e.g. with more detail).
   */
  async claimFinal(execution: Execution): Promise<boolean> {
    const key = `final.${kvKeyToken(execution.id)}`;
    return this.createOnce(key, JSON.stringify({ state: execution.state, node: this.node }));
  }

  /**
   * Create `key` with `value`, or find it already holding exactly `value`: that is this
   * replica's own earlier create (one that timed out after landing, retried) or, for a final
   * state, this replica restating it. Any other value means somebody else has it.
   */
  private createOnce(key: string, value: string): Promise<boolean> {
    return retryTransient(async () => {
      try {
        await this.kv.create(key, value);
        return true;
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err;
        const entry = await this.kv.get(key);
        return entry !== null && entry.operation === 'PUT' && entry.string() === value;
      }
    }, CLAIM_DEADLINE_MS);
  }
}
