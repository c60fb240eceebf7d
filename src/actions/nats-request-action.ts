import { Match, NoRespondersError, TimeoutError } from '@nats-io/transport-node';
import type { NatsRequestActionSpec } from '../domain/task.js';
import { ActionFailedError, truncateOutput, type ActionContext, type ActionResult } from './action.js';
import { natsHeaders } from './nats-headers.js';
import type { NatsConnectionSource } from './nats-connection-source.js';

/** Extra time the NATS client waits past the deadline, so the attempt deadline (TIMED_OUT) decides first. */
const CLIENT_TIMEOUT_SLACK_MS = 1_000;

/**
 * nats_request: one request, one reply within the deadline. A reply carrying the NATS
 * services error headers is a failed attempt: that is how service-framework workers fail.
 */
export async function runNatsRequest(
  spec: NatsRequestActionSpec,
  context: ActionContext,
  source: NatsConnectionSource,
): Promise<ActionResult> {
  const nc = source.connection();
  let reply;
  try {
    reply = await nc.request(spec.subject, spec.payload, {
      timeout: context.timeoutMs + CLIENT_TIMEOUT_SLACK_MS,
      headers: natsHeaders(spec.headers, context.runHeaders),
    });
  } catch (err) {
    if (err instanceof NoRespondersError || (err as Error).cause instanceof NoRespondersError) {
      throw new ActionFailedError(`no responders on "${spec.subject}"`, '', { cause: err });
    }
    if (err instanceof TimeoutError) throw new ActionFailedError(`no reply from "${spec.subject}" in time`, '', { cause: err });
    throw new ActionFailedError(`request to "${spec.subject}" failed: ${(err as Error).message}`, '', { cause: err });
  }
  const output = truncateOutput(reply.data);
  const h = reply.headers;
  if (h?.has('Nats-Service-Error', Match.IgnoreCase) || h?.has('Nats-Service-Error-Code', Match.IgnoreCase)) {
    const code = h.get('Nats-Service-Error-Code', Match.IgnoreCase) || '?';
    const text = h.get('Nats-Service-Error', Match.IgnoreCase) || 'service error';
    throw new ActionFailedError(`service error ${code}: ${text}`, output);
  }
  return { output };
}
