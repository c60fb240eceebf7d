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
  /** After each batch: the execution events it committed (as written) and the counts after it. */
  | { kind: 'committed'; rows: EventRow[]; counters: WriteCounters }
  /** The answer to an ack: the counts after it, or why it failed. */
  | { kind: 'acked'; id: number; counters: WriteCounters; error?: string };

/** Publisher thread -> writer thread: take these events off an outbox (NATS has them). */
export interface FromPublisher {
  kind: 'ack';
  id: number;
  op: 'ackOutbox' | 'ackTaskOutbox';
  sequences: number[];
}
