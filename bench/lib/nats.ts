import { connect, type NatsConnection } from '@nats-io/transport-node';
import { NATS_URL } from './service-process.js';

/** The benchmark's own NATS connection (subscribers), on the machine's nats-server. */
export function connectNats(name: string): Promise<NatsConnection> {
  return connect({ servers: NATS_URL, name, maxPingOut: 10 });
}

/** Wall-clock now with sub-millisecond resolution. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}
