import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';

/** How a replica reaches its JetStream store; every replica of one deployment uses the same names. */
export interface JetStreamStoreOptions {
  /** The caller owns it: the store never closes it. */
  nc: NatsConnection;
  /** Leading token(s) of every event subject (`<prefix>.executions.…`, `<prefix>.tasks.…`). */
  subjectPrefix: string;
  /** The events stream: execution history and task events; created or updated at open. */
  streamName: string;
  /** Replicas of the stream and of every bucket (1 on one server, 3 on a cluster). */
  replicas: number;
  /** This replica's name: the membership key, the CloudEvents source, the owner of its final states. */
  node: string;
  /** Executions kept per task in the read model. Default 1000 (as in SQLite). */
  historyPerTask?: number;
  /** How long the stream keeps events (history older than this is gone). Default 7 days. */
  eventMaxAgeMs?: number;
  log?: Logger;
  /** Buckets are `<bucketPrefix>_tasks`, `_claims`, `_nodes`, `_progress`. Default `cronplane`. */
  bucketPrefix?: string;
  /** A replica that has not heartbeated for this long is considered gone. Default 5 s. */
  membershipTtlMs?: number;
  /** How long open() may take to replay the stream into the read model. Default 10 min. */
  openTimeoutMs?: number;
  /**
   * How long recordExecution keeps retrying its claim and publish through NATS failures before
   * it rejects with UnavailableError. Default 20 s: a 3-node cluster re-elects well within it.
   */
  writeDeadlineMs?: number;
}

export const DEFAULT_EVENT_MAX_AGE_MS = 7 * 24 * 3_600_000;
/** Occurrence claims outlive any occurrence the engine could still try to fire (catch-up, misfire). */
export const CLAIM_MAX_AGE_MS = 7 * 24 * 3_600_000;
export const DEFAULT_BUCKET_PREFIX = 'cronplane';
export const DEFAULT_OPEN_TIMEOUT_MS = 10 * 60_000;
export const DEFAULT_WRITE_DEADLINE_MS = 20_000;

/** The bucket names of one deployment. */
export function bucketNames(prefix: string): { tasks: string; claims: string; nodes: string; progress: string } {
  if (!/^[A-Za-z0-9_-]+$/.test(prefix)) throw new RangeError(`bucketPrefix may contain only A-Z, a-z, 0-9, '_' and '-', got "${prefix}"`);
  return { tasks: `${prefix}_tasks`, claims: `${prefix}_claims`, nodes: `${prefix}_nodes`, progress: `${prefix}_progress` };
}
