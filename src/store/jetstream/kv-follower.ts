import { catchUpSignal } from './catch-up.js';
import type { KV, KvWatchEntry } from '@nats-io/kv';
import type { QueuedIterator } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { withDeadline } from './nats-errors.js';
import { StallWatchdog } from './stall-watchdog.js';

/** Starting a watch again; past this the watchdog tries once more on its next round. */
const WATCH_START_MS = 10_000;

/** A running watch over a whole bucket. */
export interface KvFollower {
  stop(): void;
}

export interface FollowOptions {
  log: Logger;
  /** How long the initial load may take. */
  timeoutMs: number;
  what: string;
}

/**
 * Watch every key of `kv` (last value of each, then every change) and resolve once the values
 * that existed at the start have been delivered: the entry at the stream's last revision (or
 * any entry with nothing pending behind it) has arrived. kv.watch gives no signal for an empty
 * bucket, nor when the last entries expire (max_age) before they are delivered, so the bucket's
 * state is polled meanwhile. `onEntry` runs synchronously for every entry, `initial` true until
 * caught up. A watch that stalls is restarted after the last revision seen (StallWatchdog).
 */
export async function followBucket(
  kv: KV,
  onEntry: (entry: KvWatchEntry, initial: boolean) => void,
  options: FollowOptions,
): Promise<KvFollower> {
  const state = (await kv.status()).streamInfo.state;
  const target = state.last_seq;
  const { ready, done: markCaughtUp, isDone: caughtUp } = catchUpSignal(state.messages === 0);

  let stopped = false;
  let seen = 0;
  let iter: QueuedIterator<KvWatchEntry> | undefined;
  /** Bumped by every restart: a restart that finishes after a newer one gives way. */
  let generation = 0;
  const watchdog = new StallWatchdog({
    log: options.log,
    what: options.what,
    behind: async () => (await kv.status()).streamInfo.state.last_seq > seen,
    restart: async () => {
      const mine = ++generation;
      iter?.stop();
      iter = undefined;
      // From the next revision on, every entry in order: nothing between is lost to listeners.
      const next = await withDeadline(kv.watch({ resumeFromRevision: seen + 1 }), WATCH_START_MS, `${options.what}: restart the KV watch`, (late) => late.stop());
      if (stopped || mine !== generation) {
        next.stop();
        return;
      }
      iter = next;
      consume(next);
    },
  });

  const consume = (watch: QueuedIterator<KvWatchEntry>) => {
    void (async () => {
      try {
        for await (const entry of watch) {
          watchdog.progress();
          if (entry.revision <= seen) continue;
          seen = entry.revision;
          try {
            onEntry(entry, !caughtUp());
          } catch (err) {
            options.log.error({ err, key: entry.key, bucket: entry.bucket }, `${options.what}: could not apply a KV entry`);
          }
          if (!caughtUp() && (entry.revision >= target || entry.delta === 0)) markCaughtUp();
        }
      } catch (err) {
        if (!stopped) options.log.error({ err }, `${options.what}: KV watch failed`);
      }
    })();
  };

  const stop = () => {
    stopped = true;
    watchdog.stop();
    iter?.stop();
  };

  try {
    iter = await kv.watch();
    consume(iter);
    const deadline = Date.now() + options.timeoutMs;
    while (!caughtUp()) {
      await Promise.race([ready, new Promise((resolve) => setTimeout(resolve, 250))]);
      if (caughtUp()) break;
      const now = (await kv.status()).streamInfo.state;
      if (now.messages === 0 || now.first_seq > target) markCaughtUp();
      else if (Date.now() > deadline) {
        throw new Error(`${options.what}: the KV watch did not deliver the bucket's values within ${options.timeoutMs} ms`);
      }
    }
  } catch (err) {
    stop();
    throw err;
  }
  return { stop };
}
