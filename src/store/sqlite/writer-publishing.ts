import { pino } from 'pino';
import { protoJsonEncoders } from '../../events/event-encoding.js';
import type { EventsStreamSettings } from '../../events/events-stream.js';
import { NatsConnectionManager, type NatsSettings } from '../../events/nats-connection.js';
import { OutboxPublisher } from '../../events/outbox-publisher.js';
import type { WriterOutbox } from './writer-outbox.js';

/** What the writer thread needs to publish the outboxes itself (plain data: it crosses as workerData). */
export interface WriterPublishSettings {
  /** Its own connection: a socket of the writer thread's, not the event loop's. */
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

export interface WriterPublishing {
  /** Committed events are waiting. */
  kick(): void;
  /** Publish what can be within the drain time, then close the connection. */
  stop(): Promise<void>;
}

/**
 * The outbox publisher on the writer thread: the events it has just committed go to NATS from
 * here, so their JSON, CloudEvents headers, NATS protocol, socket writes and acks cost the
 * event loop nothing (they were about a fifth of its work per fire, and a third of its
 * garbage). The publisher is the same as on the event loop (outbox-publisher.ts), with the
 * same guarantees: watermark acks in order, pipelined flushes, JetStream's careful mode, the
 * outbox limit's warnings.
 */
export function startWriterPublishing(
  settings: WriterPublishSettings,
  outbox: WriterOutbox,
  outboxLimit: number,
  postLogLine: (line: string) => void,
): WriterPublishing {
  // pino's own line, written to the event loop, which logs it through the service's logger.
  const log = pino({ level: settings.logLevel, base: undefined, timestamp: false }, { write: postLogLine });
  const nats = new NatsConnectionManager(settings.nats, log.child({ connection: 'events' }));
  const publisher = new OutboxPublisher({
    store: outbox,
    connection: () => nats.current(),
    encode: protoJsonEncoders,
    subjectPrefix: settings.subjectPrefix,
    source: settings.source,
    log,
    outboxLimit,
    ...(settings.stream === undefined ? {} : { stream: settings.stream }),
  });
  nats.onConnect(() => publisher.kick());
  nats.start();
  publisher.start();
  return {
    kick: () => publisher.kick(),
    async stop() {
      await publisher.stop(settings.drainMs);
      await nats.close();
    },
  };
}
