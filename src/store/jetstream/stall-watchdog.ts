import type { Logger } from 'pino';
import { withDeadline } from './nats-errors.js';

export interface StallWatchdogOptions {
  /** True when the source has more than the follower has seen (asked only after `stallMs` without progress). */
  behind: () => Promise<boolean>;
  /** Replace the stuck consumer with a new one that continues after the last message seen. */
  restart: () => Promise<void>;
  log: Logger;
  what: string;
  stallMs?: number;
}

const DEFAULT_STALL_MS = 3_000;
/** A check (or restart) that takes longer is abandoned, so one hung NATS call cannot stop the watchdog for good. */
const CHECK_DEADLINE_MS = 15_000;

/**
 * Restarts a stream follower that stopped receiving. nats.js 3.4 consumers (the ordered pull
 * consumer and the KV watch's ordered push consumer) do not recover when the cluster node that
 * hosted their ephemeral consumer dies: no message, no error, forever (seen on nats-server 2.9
 * with R3 streams). So a follower reports progress, and after `stallMs` without any it asks the
 * stream whether there is anything it missed; if so it is restarted.
 */
export class StallWatchdog {
  private lastProgress = Date.now();
  private readonly timer: NodeJS.Timeout;
  private busy = false;
  private stopped = false;
  private readonly stallMs: number;

  constructor(private readonly options: StallWatchdogOptions) {
    this.stallMs = options.stallMs ?? DEFAULT_STALL_MS;
    this.timer = setInterval(() => void this.check(), Math.max(100, Math.floor(this.stallMs / 3)));
    this.timer.unref();
  }

  progress(): void {
    this.lastProgress = Date.now();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  private async check(): Promise<void> {
    if (this.busy || this.stopped || Date.now() - this.lastProgress < this.stallMs) return;
    this.busy = true;
    try {
      if (await withDeadline(this.options.behind(), CHECK_DEADLINE_MS, `${this.options.what}: stall check`)) {
        this.options.log.warn(`${this.options.what}: no messages for ${this.stallMs} ms while the stream has more; restarting its consumer`);
        if (!this.stopped) await withDeadline(this.options.restart(), CHECK_DEADLINE_MS, `${this.options.what}: consumer restart`);
      }
      this.progress();
    } catch (err) {
      // NATS itself is away: try again on the next tick.
      this.options.log.debug({ err: (err as Error).message }, `${this.options.what}: stall check failed`);
    } finally {
      this.busy = false;
    }
  }
}
