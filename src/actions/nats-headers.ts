import { headers, type MsgHdrs } from '@nats-io/transport-node';

/** User headers first, then the run headers, which win: a task cannot forge its own run identity. */
export function natsHeaders(user: Record<string, string>, run: Record<string, string>): MsgHdrs {
  const h = headers();
  for (const [k, v] of Object.entries(user)) h.set(k, v);
  for (const [k, v] of Object.entries(run)) h.set(k, v);
  return h;
}
