import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { status as Status, type ServiceError } from '@grpc/grpc-js';
import type { Msg, Subscription } from '@nats-io/transport-node';
import { ExecutionState } from '../../src/gen/cronplane/v1/execution_pb.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { eventually, ServiceHarness } from '../helpers/service-harness.js';

const encoder = new TextEncoder();
const enc = (text: string): Uint8Array => encoder.encode(text);

/** A task that only runs when asked (its schedule is once a year), doing a NATS request. */
const requestTask = (name: string, subject: string) => ({
  name,
  schedule: { cron: '0 0 1 1 *' },
  action: { kind: { case: 'natsRequest' as const, value: { subject, payload: enc('work') } } },
  attemptDeadline: { seconds: 30n },
});

/** A responder that answers each request after `delayMs`, or never when `delayMs` is undefined. */
function responder(h: ServiceHarness, subject: string, delayMs: number | undefined): { sub: Subscription; seen: Msg[] } {
  const seen: Msg[] = [];
  const sub = h.nc.subscribe(subject);
  void (async () => {
    for await (const m of sub) {
      seen.push(m);
      if (delayMs !== undefined) setTimeout(() => { try { m.respond(enc('done')); } catch { /* closed */ } }, delayMs);
    }
  })();
  return { sub, seen };
}

async function storedExecution(h: ServiceHarness, id: string) {
  const store = SqliteStore.open(join(h.dir, 'cronplane.db'));
  try {
    return await store.getExecution(id);
  } finally {
    await store.close();
  }
}

describe('graceful shutdown with a running execution (CRONPLANE_SHUTDOWN_GRACE)', () => {
  test('within the grace period the execution finishes SUCCEEDED, its events are published, and no RPC is taken meanwhile', async () => {
    const h = await new ServiceHarness({ CRONPLANE_SHUTDOWN_GRACE: '5s' }).start();
    try {
      const subject = `${h.prefix}.work.slow`;
      const { seen } = responder(h, subject, 1_000);
      const events: string[] = [];
      const eventSub = h.nc.subscribe(`${h.prefix}.executions.slow-ok.>`);
      void (async () => { for await (const m of eventSub) events.push(m.subject); })();
      await h.nc.flush();

      await h.client.createTask({ task: requestTask('slow-ok', subject) });
      const run = await h.client.runTask({ name: 'slow-ok' });
      const id = run.execution!.id;
      await eventually(() => (seen.length === 1 ? true : undefined), 3_000, 'the request to reach the responder');

      const started = Date.now();
      const stopping = h.service.stop();
      // The gRPC port closed first: a call now gets no answer from the service.
      await assert.rejects(h.client.getTask({ name: 'slow-ok' }, { timeoutMs: 1_000 }), (err: ServiceError) => err.code !== Status.OK);
      await stopping;
      const took = Date.now() - started;
      assert.ok(took < 4_000, `stop waited for the execution, not the whole grace (${took} ms)`);

      const exec = await storedExecution(h, id);
      assert.equal(exec?.state, 'SUCCEEDED', `error: ${exec?.error}`);
      assert.equal(exec?.output, 'done');
      await eventually(() => (events.includes(`${h.prefix}.executions.slow-ok.succeeded`) ? true : undefined), 2_000, 'the succeeded event on NATS');
    } finally {
      await h.close();
    }
  });

  test('past the grace period the execution is CANCELLED, saying the service shut down', async () => {
    const h = await new ServiceHarness({ CRONPLANE_SHUTDOWN_GRACE: '200ms' }).start();
    try {
      const subject = `${h.prefix}.work.never`;
      const { seen } = responder(h, subject, undefined);
      await h.nc.flush();
      await h.client.createTask({ task: requestTask('never-replies', subject) });
      const run = await h.client.runTask({ name: 'never-replies' });
      await eventually(() => (seen.length === 1 ? true : undefined), 3_000, 'the request to reach the responder');
      const running = await h.client.getExecution({ id: run.execution!.id });
      assert.equal(running.execution!.state, ExecutionState.RUNNING);

      const started = Date.now();
      await h.service.stop();
      const took = Date.now() - started;
      assert.ok(took < 3_000, `stop honoured the 200ms grace (${took} ms)`);

      const exec = await storedExecution(h, run.execution!.id);
      assert.equal(exec?.state, 'CANCELLED');
      assert.match(exec?.error ?? '', /shutting down/);
      assert.ok(exec?.endTime !== undefined);
    } finally {
      await h.close();
    }
  });
});
