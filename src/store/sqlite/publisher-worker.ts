import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { pino } from 'pino';
import { protoJsonEncoders } from '../../events/event-encoding.js';
import { EVENTS_PENDING_LIMIT_BYTES, NatsConnectionManager } from '../../events/nats-connection.js';
import { OutboxPublisher } from '../../events/outbox-publisher.js';
import { openDatabase } from './open-database.js';
import { PublisherOutbox } from './publisher-outbox.js';
import type { ClosePublisher, PublishSettings } from './publisher-wire.js';
import type { WriteCounters } from './sqlite-writes.js';

/** Nice value of the publisher thread: under contention it gets about a tenth of a core's share. */
const PUBLISHER_NICE = 10;

export interface PublisherWorkerData {
  path: string;
  settings: PublishSettings;
  outboxLimit: number;
  /** The channel to the writer thread (transferred). */
  writer: MessagePort;
  /** The counts as the file had them when the store opened. */
  counters: WriteCounters;
}

/**
 * The publisher thread: the store's outboxes go to NATS from here, on a connection of its own,
 * so their JSON, CloudEvents headers, NATS protocol, socket writes and acks cost the event
 * loop nothing (about a fifth of its work per fire, and a third of its garbage; on the event
 * loop the events piled up once it saturated, from about 8,000 fires/s on the benchmarks' machine). It runs the same OutboxPublisher as the event
 * loop would, with the same guarantees: acks in order once NATS has the events, pipelined
 * flushes, JetStream's careful mode, the outbox limit's warnings. Its log lines (pino's JSON)
 * go to the event loop, which logs them with the service's logger.
 */
const { path, settings, outboxLimit, writer, counters } = workerData as PublisherWorkerData;
const port = parentPort!;
const log = pino({ level: settings.logLevel, base: undefined, timestamp: false }, { write: (line: string) => port.postMessage(line) });
yieldToFires();
const db = openDatabase(path);
let publisher: OutboxPublisher | undefined;
const outbox = new PublisherOutbox(db, writer, counters, () => publisher?.kick());
const nats = new NatsConnectionManager(settings.nats, log.child({ connection: 'events' }), EVENTS_PENDING_LIMIT_BYTES);
publisher = new OutboxPublisher({
  store: outbox,
  connection: () => nats.current(),
  encode: protoJsonEncoders,
  subjectPrefix: settings.subjectPrefix,
  source: settings.source,
  log,
  outboxLimit,
  ...(settings.stream === undefined ? {} : { stream: settings.stream }),
});
nats.onConnect(() => publisher?.kick());
nats.start();
publisher.start();

port.on('message', (message: ClosePublisher) => {
  if (message.kind === 'close') void close(message.committedBatches);
});

/** Publish what can be within the drain time (what committed before the close included), then let go of everything. */
async function close(committedBatches: number): Promise<void> {
  const deadline = Date.now() + settings.drainMs;
  await outbox.committedUpTo(committedBatches, settings.drainMs);
  // A store closed right after it opened: its connection may still be on its way.
  await nats.firstAttemptSettled(Math.max(0, deadline - Date.now()));
  await publisher?.stop(Math.max(0, deadline - Date.now()));
  await nats.close();
  db.close();
  writer.close();
  port.close();
}

/**
 * Fires before events: when the cores are all busy, this thread runs after the event loop and
 * the writer (Linux schedules threads by their own nice value), so a burst of fires keeps its
 * time and the events follow, durable in the outbox meanwhile; with a core to spare it
 * publishes at full speed. Where the thread's id cannot be read (not Linux), it runs as is.
 */
function yieldToFires(): void {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isSafeInteger(tid) && tid > 0) setPriority(tid, PUBLISHER_NICE);
  } catch (err) {
    log.debug({ err: (err as Error).message }, 'publisher thread: priority left as it is');
  }
}
