import type { NatsConnection } from '@nats-io/transport-node';
import { ActionFailedError } from './action.js';

/** Where NATS actions get the current connection; throws ActionFailedError while there is none. */
export interface NatsConnectionSource {
  connection(): NatsConnection;
}

/** Adapts a "maybe connected" getter to NatsConnectionSource. */
export function natsConnectionSource(get: () => NatsConnection | undefined): NatsConnectionSource {
  return {
    connection() {
      const nc = get();
      if (nc === undefined || nc.isClosed()) throw new ActionFailedError('NATS is not connected');
      return nc;
    },
  };
}
