import assert from 'node:assert/strict';
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import type { ChildService } from './child-service.js';

/** Every message on `subject` from now on, in arrival order (the array fills as they come). */
export function collect(nc: NatsConnection, subject: string): Msg[] {
  const msgs: Msg[] = [];
  nc.subscribe(subject, { callback: (err, m) => { if (err === null) msgs.push(m); } });
  return msgs;
}

/** One unlabelled sample from a child service's /metrics. */
export async function metric(svc: ChildService, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${svc.httpPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line !== undefined, `${name} in /metrics`);
  return Number(line.slice(name.length + 1));
}
