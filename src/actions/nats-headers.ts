import { headers, type MsgHdrs } from '@nats-io/transport-node';
import { preparedHeaders } from '../events/prepared-headers.js';

/**
 * User headers first, then the run headers, which win: a task cannot forge its own run identity.
 * Prepared for the wire once (every fire builds them); a name or value nats.js would refuse or
 * change goes through its own checks instead, with the same outcome.
 */
export function natsHeaders(user: Record<string, string>, run: Record<string, string>): MsgHdrs {
  const prepared = preparedHeaders(user, run);
  if (prepared !== undefined) return prepared;
  const h = headers();
  for (const [k, v] of [...Object.entries(user), ...Object.entries(run)]) h.set(k, v);
  return h;
}
