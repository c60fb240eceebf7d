import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV, Kvm, KvWatchEntry } from '@nats-io/kv';
import type { Logger } from 'pino';
import { openBucket } from './kv-bucket.js';
import { followBucket, type KvFollower } from './kv-follower.js';
import { kvKeyToken } from './kv-key.js';

export interface MembershipOptions {
  kvm: Kvm;
  jsm: JetStreamManager;
  /** The nodes bucket; its max_age is the ttl. */
  bucket: string;
  node: string;
  replicas: number;
  log: Logger;
  /** A node unheard of for this long is gone. Default 5 s; heartbeats every ttl/3. */
  ttlMs?: number;
}

export const DEFAULT_MEMBERSHIP_TTL_MS = 5_000;

interface Heartbeat {
  node: string;
  startedAt: number;
}

/**
 * Which replicas are alive, so survivors can take over a dead replica's work. Each replica puts
 * its key every ttl/3 in a bucket whose max_age is the ttl, and watches the bucket.
 *
 * nats-server 2.9 expires keys silently (no delete marker reaches a watch; checked: the watch
 * stays quiet and kv.keys() just stops listing the key), so a node counts as gone when no
 * heartbeat of it arrived for `ttl` (local clock, so server clock skew does not matter), or at
 * once when it deletes its key on a clean stop. The bucket's max_age only keeps dead keys from
 * piling up and from looking alive to a replica that starts later.
 *
 * A replica that stops seeing its own heartbeats is the one cut off (its NATS is away, or its
 * watch is being restarted): it then declares nobody dead, as everybody would otherwise "die"
 * during its own outage.
 */
export class Membership {
  private readonly ttlMs: number;
  private readonly key: string;
  private readonly startedAt = Date.now();
  /** node -> local time of its last heartbeat seen. */
  private readonly lastSeen = new Map<string, number>();
  private readonly nodeByKey = new Map<string, string>();
  private readonly listeners = new Set<(live: string[]) => void>();
  private follower: KvFollower | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private cutOffLogged = false;
  private stopped = false;

  private constructor(
    private readonly kv: KV,
    private readonly options: MembershipOptions,
  ) {
    this.ttlMs = options.ttlMs ?? DEFAULT_MEMBERSHIP_TTL_MS;
    this.key = kvKeyToken(options.node);
  }

  /** Join: create the bucket if needed, heartbeat once, load who is there, keep going. */
  static async start(options: MembershipOptions): Promise<Membership> {
    const ttlMs = options.ttlMs ?? DEFAULT_MEMBERSHIP_TTL_MS;
    if (!(ttlMs >= 300)) throw new RangeError(`membership ttl must be at least 300 ms, got ${ttlMs}`);
    const kv = await openBucket(options.kvm, options.jsm, options.bucket, { replicas: options.replicas, ttlMs, allowDirect: false }, options.log);
    const membership = new Membership(kv, options);
    await membership.heartbeat();
    membership.lastSeen.set(options.node, Date.now());
    membership.follower = await membership.follow();
    membership.heartbeatTimer = setInterval(() => void membership.heartbeat(), Math.floor(ttlMs / 3));
    membership.sweepTimer = setInterval(() => membership.sweep(), Math.max(50, Math.floor(ttlMs / 10)));
    membership.heartbeatTimer.unref();
    membership.sweepTimer.unref();
    return membership;
  }

  /** Live replicas by name, this one included. */
  liveNodes(): string[] {
    return [...this.lastSeen.keys()].sort();
  }

  isAlive(node: string): boolean {
    return this.lastSeen.has(node);
  }

  /** Called with the live set whenever a replica appears or disappears; returns the unsubscribe. */
  onChange(listener: (live: string[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Leave: stop heartbeating and delete this replica's key, so the others notice at once. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.heartbeatTimer);
    clearInterval(this.sweepTimer);
    this.follower?.stop();
    this.listeners.clear();
    try {
      await this.kv.delete(this.key);
    } catch (err) {
      this.options.log.debug({ err }, 'membership: could not delete own key (it expires by itself)');
    }
  }

  private async heartbeat(): Promise<void> {
    if (this.stopped) return;
    const beat: Heartbeat = { node: this.options.node, startedAt: this.startedAt };
    try {
      await this.kv.put(this.key, JSON.stringify(beat));
    } catch (err) {
      if (!this.stopped) this.options.log.warn({ err: (err as Error).message }, 'membership: heartbeat failed');
    }
  }

  private follow(): Promise<KvFollower> {
    return followBucket(this.kv, (entry, initial) => this.onEntry(entry, initial), {
      log: this.options.log,
      timeoutMs: Math.max(10_000, this.ttlMs * 2),
      what: 'membership',
    });
  }

  private onEntry(entry: KvWatchEntry, initial: boolean): void {
    if (this.stopped) return;
    const now = Date.now();
    if (entry.operation !== 'PUT') {
      const node = this.nodeByKey.get(entry.key);
      this.nodeByKey.delete(entry.key);
      if (node !== undefined && node !== this.options.node && this.lastSeen.delete(node)) this.changed();
      return;
    }
    const node = entry.json<Heartbeat>().node;
    this.nodeByKey.set(entry.key, node);
    // A value delivered from before the watch started is as old as the server says (bounded by the ttl).
    const seenAt = initial ? now - Math.min(this.ttlMs, Math.max(0, now - entry.created.getTime())) : now;
    const known = this.lastSeen.has(node);
    this.lastSeen.set(node, Math.max(seenAt, this.lastSeen.get(node) ?? 0));
    if (!known) this.changed();
  }

  private sweep(): void {
    if (this.stopped) return;
    const now = Date.now();
    const self = this.lastSeen.get(this.options.node) ?? 0;
    // Two heartbeat periods without our own heartbeat coming back: we are the one cut off.
    if (now - self > (this.ttlMs * 2) / 3) {
      if (!this.cutOffLogged) {
        this.cutOffLogged = true;
        this.options.log.warn('membership: own heartbeats are not coming back; declaring no replica dead meanwhile');
      }
      return;
    }
    if (this.cutOffLogged) {
      // Back in contact: the others could not heartbeat through the same outage either, so give
      // every known node a fresh ttl instead of declaring it dead on the spot.
      this.cutOffLogged = false;
      for (const node of this.lastSeen.keys()) this.lastSeen.set(node, now);
      this.options.log.info('membership: own heartbeats are back');
      return;
    }
    let changed = false;
    for (const [node, at] of this.lastSeen) {
      if (node !== this.options.node && now - at > this.ttlMs) {
        this.lastSeen.delete(node);
        changed = true;
      }
    }
    if (changed) this.changed();
  }

  private changed(): void {
    const live = this.liveNodes();
    for (const listener of this.listeners) {
      try {
        listener(live);
      } catch (err) {
        this.options.log.error({ err }, 'membership listener failed');
      }
    }
  }
}
