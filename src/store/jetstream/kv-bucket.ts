import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV, Kvm } from '@nats-io/kv';
import type { Logger } from 'pino';

export interface BucketSettings {
  replicas: number;
  /** Bucket-wide max_age (nats-server 2.9 has no per-key TTL); none when undefined. */
  ttlMs?: number;
  /** Reads from any replica (faster, possibly stale). Off where a read settles a lost compare-and-set. */
  allowDirect?: boolean;
}

/**
 * Open a bucket, creating it with `settings` if missing. Kvm.create leaves an existing bucket's
 * configuration alone, so a changed replica count (R1 -> R3 when a cluster is introduced) is
 * applied here; a different max_age is only reported, since replicas that disagree about it
 * would keep changing it back and forth.
 */
export async function openBucket(kvm: Kvm, jsm: JetStreamManager, name: string, settings: BucketSettings, log: Logger): Promise<KV> {
  const kv = await kvm.create(name, {
    history: 1,
    replicas: settings.replicas,
    ...(settings.ttlMs === undefined ? {} : { ttl: settings.ttlMs }),
    ...(settings.allowDirect === undefined ? {} : { allow_direct: settings.allowDirect }),
  });
  const stream = `KV_${name}`;
  const config = (await jsm.streams.info(stream)).config;
  if (config.num_replicas !== settings.replicas) {
    log.info({ bucket: name, from: config.num_replicas, to: settings.replicas }, 'changing the replicas of a bucket');
    await jsm.streams.update(stream, { ...config, num_replicas: settings.replicas });
  }
  const maxAgeMs = Math.round(config.max_age / 1_000_000);
  if (maxAgeMs !== (settings.ttlMs ?? 0)) {
    log.warn({ bucket: name, maxAgeMs, configuredMs: settings.ttlMs ?? 0 }, 'bucket max_age differs from the configured one; keeping the bucket\'s');
  }
  return kv;
}
