import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { redactUrl } from '../config/redact-url.js';

/**
 * nats.js queues publishes and writes them to the socket inline once this much has queued; at
 * the first publish into an empty buffer it queues a microtask that writes whatever is there.
 *
 * The service's own connection carries the actions (and, where no publisher thread does, the
 * events, and the JetStream store's writes): there nats.js's default, 32 KiB (about 110 action
 * messages), so the first messages of a burst leave while the rest are still being published.
 * (With 1 MiB here, all 1,000 messages of a 1k-task second left in one write after the whole
 * burst: measured at a subscriber, the first arrived 10-25 ms after its time.)
 */
export const ACTIONS_PENDING_LIMIT_BYTES = 32 * 1024;
/**
 * The events publisher's connection: a 500-event outbox batch (about 1.2 KiB an event) was
 * twenty socket writes at 32 KiB; one write per MiB cuts the syscalls (and loopback TCP's
 * per-write work) without holding more than that. Events are not waited for by the millisecond.
 */
export const EVENTS_PENDING_LIMIT_BYTES = 1024 * 1024;

export interface NatsSettings {
  servers: string[];
  name: string;
  user?: string;
  password?: string;
  token?: string;
  credsFile?: string;
  /** TLS to NATS: CA to trust, and a client certificate when the server asks for one. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
}

/**
 * Keeps one NATS connection for the whole service: connects in the background (the service
 * starts without NATS and says so), retries forever with backoff, logs every status change.
 */
export class NatsConnectionManager {
  private nc: NatsConnection | undefined;
  private connected = false;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<() => void>();
  private firstAttemptDone!: () => void;
  /** Settles when the first connection attempt has succeeded or failed. */
  private readonly firstAttempt = new Promise<void>((resolve) => { this.firstAttemptDone = resolve; });

  constructor(
    private readonly settings: NatsSettings,
    private readonly log: Logger,
    /** See ACTIONS_PENDING_LIMIT_BYTES and EVENTS_PENDING_LIMIT_BYTES. */
    private readonly pendingLimitBytes = ACTIONS_PENDING_LIMIT_BYTES,
  ) {}

  /** The connection while it is up; undefined while NATS is away. */
  current(): NatsConnection | undefined {
    return this.connected ? this.nc : undefined;
  }

  isConnected(): boolean {
    return this.connected;
  }

  /** Called on every (re)connect, e.g. to flush the outbox. */
  onConnect(listener: () => void): void {
    this.listeners.add(listener);
  }

  start(): void {
    void this.attempt(0);
  }

  /**
   * Wait (at most `timeoutMs`) for the first attempt to connect to end, so occurrences that
   * are due right at start-up do not fail only because the connection was a few ms away.
   */
  async firstAttemptSettled(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.firstAttempt, new Promise<void>((r) => { timer = setTimeout(r, timeoutMs); })]);
    clearTimeout(timer);
  }

  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const nc = this.nc;
    this.nc = undefined;
    this.connected = false;
    if (nc !== undefined && !nc.isClosed()) await nc.drain().catch(() => nc.close());
  }

  private options(): NodeConnectionOptions {
    const s = this.settings;
    const opts: NodeConnectionOptions = {
      servers: s.servers,
      name: s.name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1_000,
      reconnectJitter: 500,
      pingInterval: 10_000,
      maxPingOut: 3,
    };
    // Not in the typed options.
    Object.assign(opts, { pendingLimit: this.pendingLimitBytes });
    if (s.user !== undefined) { opts.user = s.user; opts.pass = s.password; }
    if (s.token !== undefined) opts.token = s.token;
    if (s.credsFile !== undefined) opts.authenticator = credsAuthenticator(readFileSync(s.credsFile));
    if (s.tls !== undefined) opts.tls = { ...s.tls };
    return opts;
  }

  private async attempt(failures: number): Promise<void> {
    if (this.stopped) return;
    try {
      const nc = await connect(this.options());
      if (this.stopped) { await nc.close(); return; }
      this.nc = nc;
      this.connected = true;
      this.log.info({ server: redactUrl(nc.getServer()) }, 'nats connected');
      this.firstAttemptDone();
      this.notify();
      void this.watchStatus(nc);
      void nc.closed().then((err) => {
        this.connected = false;
        if (this.stopped) return;
        this.log.warn({ err }, 'nats connection closed; reconnecting');
        void this.attempt(0);
      });
    } catch (err) {
      const delay = Math.min(500 * 2 ** failures, 10_000);
      if (failures === 0) {
        this.log.warn({ servers: this.settings.servers.map(redactUrl), err: (err as Error).message }, 'nats not reachable; running without it and retrying');
      }
      this.firstAttemptDone();
      this.retryTimer = setTimeout(() => void this.attempt(failures + 1), delay);
      this.retryTimer.unref();
    }
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      switch (status.type) {
        case 'disconnect':
          this.connected = false;
          this.log.warn({ server: redactUrl(status.server) }, 'nats disconnected');
          break;
        case 'reconnecting':
          this.log.debug('nats reconnecting');
          break;
        case 'reconnect':
          this.connected = true;
          this.log.info({ server: redactUrl(status.server) }, 'nats reconnected');
          this.notify();
          break;
        case 'error':
          this.log.warn({ err: status.error.message }, 'nats error');
          break;
        default:
          break;
      }
    }
  }

  private notify(): void {
    for (const l of this.listeners) l();
  }
}
