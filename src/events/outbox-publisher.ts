import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { ExecutionEvent } from '../domain/execution.js';
import type { Store } from '../store/store.js';
import { cloudEventHeaders, executionEventSubject } from './cloudevents.js';

export interface OutboxPublisherOptions {
  store: Store;
  connection: () => NatsConnection | undefined;
  encode: (event: ExecutionEvent) => Uint8Array;
  subjectPrefix: string;
  source: string;
  log: Logger;
  batchSize?: number;
  /** Re-check interval while idle or while NATS is away. */
  pollMs?: number;
}

/**
 * Drains the store's outbox to NATS in sequence order (so in order per task): publish a batch,
 * flush (the server has it), then delete it from the outbox. While NATS is away events wait in
 * the outbox; a crash between publish and delete re-publishes, which consumers dedupe by ce-id.
 */
export class OutboxPublisher {
  private running = false;
  private kicked = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private readonly batchSize: number;
  private readonly pollMs: number;

  constructor(private readonly options: OutboxPublisherOptions) {
    this.batchSize = options.batchSize ?? 500;
    this.pollMs = options.pollMs ?? 1_000;
  }

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  /** New events are waiting: publish soon. */
  kick(): void {
    this.kicked = true;
    this.wake?.();
  }

  /** Publish what can be published within `timeoutMs`, then stop. */
  async stop(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && this.options.connection() !== undefined && (await this.options.store.outboxSize()) > 0) {
      this.kick();
      await new Promise((r) => setTimeout(r, 20));
    }
    this.running = false;
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      let published = 0;
      try {
        published = await this.publishBatch();
      } catch (err) {
        this.options.log.warn({ err: (err as Error).message }, 'event publish failed; will retry');
      }
      if (published < this.batchSize && !this.kicked) await this.sleep();
      this.kicked = false;
    }
  }

  private async publishBatch(): Promise<number> {
    const nc = this.options.connection();
    if (nc === undefined) return 0;
    const batch = await this.options.store.pendingOutbox(this.batchSize);
    if (batch.length === 0) return 0;
    for (const event of batch) {
      nc.publish(executionEventSubject(this.options.subjectPrefix, event), this.options.encode(event), {
        headers: cloudEventHeaders(event, this.options.source),
      });
    }
    await nc.flush();
    await this.options.store.ackOutbox(batch.map((e) => e.sequence));
    return batch.length;
  }

  private sleep(): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, this.pollMs);
      function done() { clearTimeout(t); resolve(); }
      this.wake = () => { this.wake = undefined; done(); };
    });
  }
}
