import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { ExecutionEvent } from '../domain/execution.js';
import type { TaskEvent } from '../domain/task-event.js';
import type { Store } from '../store/store.js';
import { cloudEventHeaders, describeExecutionEvent, describeTaskEvent, preparedCloudEventHeaders, type OutgoingEvent } from './cloudevents.js';
import { ensureEventsStream, type EventsStreamSettings } from './events-stream.js';

/** Message bodies: the events as protobuf JSON. */
export interface EventEncoders {
  execution(event: ExecutionEvent): Uint8Array;
  task(event: TaskEvent): Uint8Array;
}

/** What the publisher reads and acks: the store's outboxes (the Store itself, or the publisher thread's view of them, fed by the writer thread). */
export type OutboxSource = Pick<Store, 'pendingOutbox' | 'outboxSize' | 'ackOutbox' | 'droppedOutboxEvents' | 'pendingTaskOutbox' | 'ackTaskOutbox'>;

export interface OutboxPublisherOptions {
  store: OutboxSource;
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
  /** Plain NATS: batches published and waiting for their flush at once (default 4). */
  pipelineDepth?: number;
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
 * A task event carries the whole task (decoded, then encoded by reflection): 500 of them held
 * the event loop for a ListTasks page's worth of 200+ ms while a million seeded tasks drained.
 */
const TASK_EVENTS_PER_BATCH = 100;

/** A published batch of execution events waiting for the server's answer to its flush. */
interface InFlight {
  sequences: number[];
  flushed: Promise<void>;
}

/**
 * Drains the store's outboxes to NATS in sequence order (so in order per task): publish a
 * batch, make sure the server has it (flush, or JetStream acks), then take it off the outbox.
 * While NATS is away events wait; a crash between publish and ack re-publishes, which
 * JetStream drops by Nats-Msg-Id and plain consumers dedupe by ce-id.
 *
 * With plain NATS, while behind (full batches) up to `pipelineDepth` batches are published
 * before the oldest one's flush returns: the server answers flushes in order, so each batch is
 * acked in order once its flush is back. A failed flush (the connection dropped) acks nothing
 * from there on and the next round starts again from the outbox's head: events are never
 * acked before NATS has them, and their first copies reach NATS in order.
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
  private readonly pipelineDepth: number;
  private readonly pollMs: number;

  constructor(private readonly options: OutboxPublisherOptions) {
    this.batchSize = options.batchSize ?? 500;
    this.pipelineDepth = Math.max(1, options.pipelineDepth ?? 4);
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
      let more = false;
      try {
        await this.watchFill();
        more = await this.publishBatch();
      } catch (err) {
        this.options.log.warn({ err: (err as Error).message }, 'event publish failed; will retry');
        await this.sleep();
      }
      if (!more && !this.kicked) await this.sleep();
      this.kicked = false;
    }
  }

  private prepareExecutions(events: ExecutionEvent[]): Prepared[] {
    const { encode, subjectPrefix } = this.options;
    return events.map((e) => ({ sequence: e.sequence, meta: describeExecutionEvent(subjectPrefix, e), body: encode.execution(e) }));
  }

  /** Returns whether it read a full batch: then more may be waiting. */
  private async publishBatch(): Promise<boolean> {
    const nc = this.options.connection();
    if (nc === undefined) return false;
    const { store, encode, subjectPrefix } = this.options;
    const taskLimit = Math.min(this.batchSize, TASK_EVENTS_PER_BATCH);
    const tasks: Prepared[] = (await store.pendingTaskOutbox(taskLimit)).map((e) => ({
      sequence: e.sequence,
      meta: describeTaskEvent(subjectPrefix, e),
      body: encode.task(e),
    }));
    if (this.options.stream === undefined) {
      if (tasks.length > 0) {
        for (const p of tasks) this.publishCore(nc, p);
        await nc.flush();
        await store.ackTaskOutbox(tasks.map((p) => p.sequence));
        this.options.onPublished?.(tasks.length);
      }
      const largestExecutionBatch = await this.publishExecutionsCore(nc);
      return tasks.length === taskLimit || largestExecutionBatch >= this.batchSize;
    }
    const executions = this.prepareExecutions(await store.pendingOutbox(this.batchSize));
    if (executions.length + tasks.length === 0) return false;
    await this.ensureStream(nc);
    await store.ackTaskOutbox(await this.publishJetStream(nc, tasks));
    await store.ackOutbox(await this.publishJetStream(nc, executions));
    const count = executions.length + tasks.length;
    this.options.onPublished?.(count);
    return executions.length === this.batchSize || tasks.length === taskLimit;
  }

  /**
   * Plain NATS: publish batches of execution events, up to `pipelineDepth` of them waiting for
   * their flush at a time, and ack each once its flush is back, in order. Reads on past what was
   * sent only while batches come back full (behind); a partial batch ends the round once its
   * flush is back, so a steady trickle of events still goes out in batches, not one by one.
   */
  private async publishExecutionsCore(nc: NatsConnection): Promise<number> {
    const { store } = this.options;
    const inFlight: InFlight[] = [];
    let failed: unknown;
    let largest = 0;
    let sentUpTo: number | undefined;
    for (;;) {
      const events = await store.pendingOutbox(this.batchSize, sentUpTo);
      largest = Math.max(largest, events.length);
      if (events.length > 0 && failed === undefined) {
        for (const p of this.prepareExecutions(events)) this.publishCore(nc, p);
        sentUpTo = events[events.length - 1]!.sequence;
        const flushed = nc.flush();
        // A lost connection rejects every waiting flush at once; this sees it a microtask
        // later, before anything more is published on a connection that lost earlier batches.
        flushed.catch((err: unknown) => { failed ??= err; });
        inFlight.push({ sequences: events.map((e) => e.sequence), flushed });
      }
      const full = events.length === this.batchSize;
      while (inFlight.length > 0 && (!full || inFlight.length >= this.pipelineDepth || failed !== undefined)) {
        const oldest = inFlight.shift()!;
        // Throws for the first batch the server may not have: it and all after it stay in the
        // outbox and go out again from its head.
        await oldest.flushed;
        await store.ackOutbox(oldest.sequences);
        this.options.onPublished?.(oldest.sequences.length);
      }
      if (!full || failed !== undefined || !this.running) break;
    }
    return largest;
  }

  private publishCore(nc: NatsConnection, p: Prepared): void {
    nc.publish(p.meta.subject, p.body, { headers: preparedCloudEventHeaders(p.meta, this.options.source) });
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
