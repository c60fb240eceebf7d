import type { EventRow } from './rows.js';
import type { WriteCounters } from './sqlite-writes.js';
import type { EventsStreamSettings } from '../../events/events-stream.js';
import type { NatsSettings } from '../../events/nats-connection.js';

/** What the publisher thread needs (plain data: it crosses as workerData). */
export interface PublishSettings {
  /** Its own connection: a socket of the publisher thread's, not the event loop's. */
  nats: NatsSettings;
  subjectPrefix: string;
  /** CloudEvents `source`. */
  source: string;
  /** Publish through this JetStream stream; its acks clear the outbox. */
  stream?: EventsStreamSettings;
  /** The service's log level; the thread's log lines cross to the event loop's logger. */
  logLevel: string;
  /** How long closing the store waits for the outbox to reach NATS. */
  drainMs: number;
}

/** Writer thread -> publisher thread, on their own channel. */
export type ToPublisher =
  /**
   * After each batch that committed: its execution events (as written), the counts after it,
   * and how many batches have committed so far (the event loop's close waits for its last).
   */
  | { kind: 'committed'; rows: EventRow[]; counters: WriteCounters; batch: number }
  /** The answer to an ack: the counts after it, or why it failed. */
  | { kind: 'acked'; id: number; counters: WriteCounters; error?: string };

/**
 * Event loop -> publisher thread: close, once the 'committed' message of the writer's
 * `committedBatches`-th batch is in (the last the event loop saw answered): what committed
 * before the close is drained with the rest. (The two messages cross on different ports, in
 * either order.)
 */
export interface ClosePublisher {
  kind: 'close';
  committedBatches: number;
}

/** Publisher thread -> writer thread: take these events off an outbox (NATS has them). */
export interface FromPublisher {
  kind: 'ack';
  id: number;
  op: 'ackOutbox' | 'ackTaskOutbox';
  sequences: number[];
}
