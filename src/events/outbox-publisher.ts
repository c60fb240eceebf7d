import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { ExecutionEvent } from '../domain/execution.js';
import type { TaskEvent } from '../domain/task-event.js';
import type { Store } from '../store/store.js';
import { cloudEventHeaders, describeExecutionEvent, describeTaskEvent, type OutgoingEvent } from './cloudevents.js';
import { ensureEventsStream, type EventsStreamSettings } from './events-stream.js';

/** Message bodies: the events as protobuf JSON. */
export interface EventEncoders {
  execution(event: ExecutionEvent): Uint8Array;
  task(event: TaskEvent): Uint8Array;
}

export interface OutboxPublisherOptions {
  store: Store;
  connection: () => NatsConnection | undefined;
  encode: EventEncoders;
  subjectPrefix: string;
  source: string;
  log: Logger;
  /** Publish through this JetStream stream (created or updated on connect); its acks clear the outbox. */
  stream?: EventsStreamSettings;
  /** The store's outbox limit, for the "filling up" warning. */
  outboxLimit?: number;
  batchSize?: number;
  /** Re-check interval while idle or while NATS is away. */
  pollMs?: number;
  onPublished?: (count: number) => void;
}

interface Prepared {
  sequence: number;
  meta: OutgoingEvent;
  body: Uint8Array;
}

const WARN_EVERY_MS = 60_000;

/**
 * Drains the store's outboxes to NATS in sequence order (so in order per task): publish a
 * batch, make sure the server has it (flush, or JetStream acks), then delete it from the outbox.
 * While NATS is away events wait; a crash between publish and delete re-publishes, which
 * JetStream drops by Nats-Msg-Id and plain consumers dedupe by ce-id.
 */
export class OutboxPublisher {
  private running = false;
  private kicked = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private streamReadyFor: NatsConnection | undefined;
  private lastWarn = 0;
  /** After a rejected JetStream publish: one event at a time until a batch goes through whole. */
  private careful = false;
  private lastDropped = 0;
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
        await this.watchFill();
        published = await this.publishBatch();
      } catch (err) {
        this.options.log.warn({ err: (err as Error).message }, 'event publish failed; will retry');
        await this.sleep();
      }
      if (published < this.batchSize && !this.kicked) await this.sleep();
      this.kicked = false;
    }
  }

  private async publishBatch(): Promise<number> {
    const nc = this.options.connection();
    if (nc === undefined) return 0;
    const { store, encode, subjectPrefix } = this.options;
    const executions: Prepared[] = (await store.pendingOutbox(this.batchSize)).map((e) => ({
      sequence: e.sequence,
      meta: describeExecutionEvent(subjectPrefix, e),
      body: encode.execution(e),
    }));
    const tasks: Prepared[] = (await store.pendingTaskOutbox(this.batchSize)).map((e) => ({
      sequence: e.sequence,
      meta: describeTaskEvent(subjectPrefix, e),
      body: encode.task(e),
    }));
    if (executions.length + tasks.length === 0) return 0;
    if (this.options.stream === undefined) {
      for (const p of [...tasks, ...executions]) this.publishCore(nc, p);
      await nc.flush();
      await store.ackTaskOutbox(tasks.map((p) => p.sequence));
      await store.ackOutbox(executions.map((p) => p.sequence));
    } else {
      await this.ensureStream(nc);
      await store.ackTaskOutbox(await this.publishJetStream(nc, tasks));
      await store.ackOutbox(await this.publishJetStream(nc, executions));
    }
    const count = executions.length + tasks.length;
    this.options.onPublished?.(count);
    return Math.max(executions.length, tasks.length);
  }

  private publishCore(nc: NatsConnection, p: Prepared): void {
    nc.publish(p.meta.subject, p.body, { headers: cloudEventHeaders(p.meta, this.options.source) });
  }

  /**
   * Pipelined publishes, acked in order: only the prefix that JetStream acknowledged leaves the
   * outbox. Anything after a failure is sent again later and dropped by the stream as a duplicate.
   */
  private async publishJetStream(nc: NatsConnection, all: Prepared[]): Promise<number[]> {
    if (all.length === 0) return [];
    // Pipelining keeps order while the stream accepts everything; after a rejection a later
    // event of the same batch could land before the re-sent one, so go one at a time for a while.
    const batch = this.careful ? all.slice(0, 1) : all;
    const js = jetstream(nc);
    const results = await Promise.allSettled(
      batch.map((p) =>
        js.publish(p.meta.subject, p.body, {
          headers: cloudEventHeaders(p.meta, this.options.source),
          msgID: p.meta.id,
          timeout: 5_000,
        }),
      ),
    );
    const acked: number[] = [];
    for (let i = 0; i < results.length; i++) {
      const r = results[i]!;
      if (r.status === 'rejected') {
        this.options.log.warn({ err: (r.reason as Error).message, sequence: batch[i]!.sequence }, 'events stream publish failed; will retry');
        // The stream may be gone (a server replaced without its storage): check it again.
        this.streamReadyFor = undefined;
        this.careful = true;
        break;
      }
      acked.push(batch[i]!.sequence);
    }
    if (acked.length === batch.length) this.careful = false;
    return acked;
  }

  private async ensureStream(nc: NatsConnection): Promise<void> {
    if (this.streamReadyFor === nc || this.options.stream === undefined) return;
    await ensureEventsStream(nc, this.options.stream);
    this.streamReadyFor = nc;
    this.options.log.info({ stream: this.options.stream.name }, 'events stream ready');
  }

  /** Warn while the outbox fills up (80% of its limit) and when events had to be dropped. */
  private async watchFill(): Promise<void> {
    const { store, outboxLimit, log } = this.options;
    const dropped = await store.droppedOutboxEvents();
    if (dropped > this.lastDropped) {
      log.error({ dropped: dropped - this.lastDropped, outboxLimit }, 'outbox full: oldest events dropped before NATS had them');
      this.lastDropped = dropped;
    }
    if (outboxLimit === undefined || Date.now() - this.lastWarn < WARN_EVERY_MS) return;
    const size = await store.outboxSize();
    if (size >= outboxLimit * 0.8) {
      this.lastWarn = Date.now();
      log.warn({ outbox: size, outboxLimit }, 'outbox filling up: NATS is not taking events');
    }
  }

  private sleep(): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, this.pollMs);
      function done() { clearTimeout(t); resolve(); }
      this.wake = () => { this.wake = undefined; done(); };
    });
  }
}
