import { jetstream } from '@nats-io/jetstream';
import type { NatsPublishActionSpec } from '../domain/task.js';
import { ActionFailedError, type ActionContext, type ActionResult } from './action.js';
import { coalescedFlush } from './coalesced-flush.js';
import { natsHeaders } from './nats-headers.js';
import type { NatsConnectionSource } from './nats-connection-source.js';

/**
 * nats_publish: a core publish confirmed by a flush (the server has it), or with `jetstream`
 * a JetStream publish whose ack is the success; the execution id is the Nats-Msg-Id, so a
 * retried attempt after a lost ack is dropped by the stream as a duplicate.
 */
export async function runNatsPublish(
  spec: NatsPublishActionSpec,
  context: ActionContext,
  source: NatsConnectionSource,
): Promise<ActionResult> {
  const nc = source.connection();
  const h = natsHeaders(spec.headers, context.runHeaders);
  try {
    if (spec.jetstream) {
      const ack = await jetstream(nc).publish(spec.subject, spec.payload, {
        headers: h,
        msgID: context.runHeaders['Idempotency-Key'],
        timeout: context.timeoutMs,
      });
      return { output: `stream ${ack.stream} sequence ${ack.seq}${ack.duplicate ? ' (duplicate)' : ''}` };
    }
    nc.publish(spec.subject, spec.payload, { headers: h });
    await coalescedFlush(nc);
    return { output: '' };
  } catch (err) {
    throw new ActionFailedError(`publish to "${spec.subject}" failed: ${(err as Error).message}`, '', { cause: err });
  }
}
