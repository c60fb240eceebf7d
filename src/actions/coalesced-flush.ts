import type { NatsConnection } from '@nats-io/transport-node';

const pending = new WeakMap<NatsConnection, Promise<void>>();

/**
 * One NATS flush (a PING/PONG round trip) for every publish made on `nc` in the same turn of
 * the event loop: a second at which 1000 tasks publish costs one round trip, not 1000. The
 * flush is sent after every publish of the turn, so its PONG confirms all of them.
 */
export function coalescedFlush(nc: NatsConnection): Promise<void> {
  let flush = pending.get(nc);
  if (flush === undefined) {
    flush = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      // Publishes from here on need a flush of their own: it must be sent after them.
      pending.delete(nc);
      return nc.flush();
    });
    pending.set(nc, flush);
  }
  return flush;
}
