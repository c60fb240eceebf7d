import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV, Kvm } from '@nats-io/kv';
import type { Logger } from 'pino';
import { openBucket } from './kv-bucket.js';
import { followBucket } from './kv-follower.js';
import { fromKvKeyToken, kvKeyToken } from './kv-key.js';
import { retryTransient } from './nats-errors.js';

/** It runs beside the event's publish, which waits longer: no need to hold the write for it. */
const RECORD_DEADLINE_MS = 5_000;

/**
 * Where each task's schedule left off, kept without expiry. The read model answers
 * lastOccurrence from the stream, but the stream forgets after its max_age: a weekly or monthly
 * task would then look as if it never ran, and a restart would record its past occurrences as
 * MISSED. One small put per claimed occurrence avoids that; it is read only for tasks the read
 * model knows nothing about, from a snapshot loaded once on first need.
 */
export class OccurrenceProgress {
  private snapshot: Promise<Map<string, number>> | undefined;
  /** The snapshot once loaded; own records keep it current. */
  private loaded: Map<string, number> | undefined;

  private constructor(
    private readonly kv: KV,
    private readonly log: Logger,
  ) {}

  static async open(kvm: Kvm, jsm: JetStreamManager, bucket: string, replicas: number, log: Logger): Promise<OccurrenceProgress> {
    const kv = await openBucket(kvm, jsm, bucket, { replicas }, log);
    return new OccurrenceProgress(kv, log);
  }

  /** Best effort: the stream has the same fact for its max_age. */
  async record(taskName: string, scheduledTime: number): Promise<void> {
    try {
      await retryTransient((timeout) => this.kv.put(kvKeyToken(taskName), String(scheduledTime), { timeout }), RECORD_DEADLINE_MS);
    } catch (err) {
      this.log.warn({ err: (err as Error).message, task: taskName }, 'could not record where the schedule left off');
    }
    const loaded = this.loaded;
    if (loaded !== undefined && (loaded.get(taskName) ?? -Infinity) < scheduledTime) loaded.set(taskName, scheduledTime);
  }

  async last(taskName: string): Promise<number | undefined> {
    this.snapshot ??= this.load();
    return (await this.snapshot).get(taskName);
  }

  private async load(): Promise<Map<string, number>> {
    const values = new Map<string, number>();
    try {
      const follower = await followBucket(
        this.kv,
        (entry, initial) => {
          if (!initial) return;
          const name = fromKvKeyToken(entry.key);
          const time = Number(entry.string());
          if (entry.operation === 'PUT' && Number.isFinite(time)) values.set(name, Math.max(time, values.get(name) ?? -Infinity));
        },
        { log: this.log, timeoutMs: 60_000, what: 'schedule progress' },
      );
      follower.stop();
    } catch (err) {
      this.snapshot = undefined;
      throw err;
    }
    this.loaded = values;
    return values;
  }
}
