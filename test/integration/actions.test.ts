import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { jetstreamManager } from '@nats-io/jetstream';
import { headers, type Msg, type MsgHdrs } from '@nats-io/transport-node';
import { ExecutionState, type Execution } from '../../src/gen/cronplane/v1/execution_pb.js';
import { OverlapPolicy, type Task, type TaskSchema } from '../../src/gen/cronplane/v1/task_pb.js';
import { eventually, ServiceHarness } from '../helpers/service-harness.js';

/** Never fires by itself during a test run: these tasks run through RunTask only. */
const NEVER = '0 0 1 1 *';
const FINAL = new Set([
  ExecutionState.SUCCEEDED,
  ExecutionState.FAILED,
  ExecutionState.TIMED_OUT,
  ExecutionState.CANCELLED,
  ExecutionState.SKIPPED,
  ExecutionState.MISSED,
  ExecutionState.LOST,
]);

type TaskInit = Exclude<MessageInitShape<typeof TaskSchema>, Task>;
type Action = NonNullable<TaskInit['action']>;
type TaskExtras = Pick<TaskInit, 'retryPolicy' | 'attemptDeadline'>;

const enc = (s: string) => new TextEncoder().encode(s);
const ms = (n: number) => ({ seconds: BigInt(Math.floor(n / 1000)), nanos: (n % 1000) * 1_000_000 });
const toMs = (t: { seconds: bigint; nanos: number } | undefined) => {
  assert.ok(t !== undefined, 'timestamp set');
  return Number(t.seconds) * 1000 + t.nanos / 1e6;
};
const sleep = (n: number) => new Promise((r) => setTimeout(r, n));

const natsRequest = (subject: string, payload = ''): Action => ({
  kind: { case: 'natsRequest', value: { subject, payload: enc(payload) } },
});

/** A NATS responder that records what it received and answers through `reply`. */
function respond(h: ServiceHarness, subject: string, reply: (msg: Msg, n: number) => void): Msg[] {
  const seen: Msg[] = [];
  const sub = h.nc.subscribe(subject);
  void (async () => {
    for await (const m of sub) {
      seen.push(m);
      reply(m, seen.length);
    }
  })();
  return seen;
}

function serviceError(text: string, code: string): MsgHdrs {
  const hdrs = headers();
  hdrs.set('Nats-Service-Error', text);
  hdrs.set('Nats-Service-Error-Code', code);
  return hdrs;
}

interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A real HTTP server on loopback; every path answers what `answer` says. */
async function startHttp(answer: (req: SeenRequest) => { status: number; body: string }) {
  const seen: SeenRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: SeenRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      seen.push(r);
      const { status, body } = answer(r);
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** A loopback port that was open a moment ago and is closed now: connecting is refused. */
async function closedPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface Watched {
  id: string;
  taskName: string;
  state: ExecutionState;
  attempt: number;
}

describe('actions end to end: real gRPC, real NATS responders, real HTTP server', () => {
  let h: ServiceHarness;
  const PROBE = 'watch-probe';

  before(async () => {
    h = await new ServiceHarness().start();
    await h.client.createTask({
      task: { name: PROBE, schedule: { cron: NEVER }, action: { kind: { case: 'natsPublish', value: { subject: `${h.prefix}.probe` } } } },
    });
  });
  after(async () => {
    await h.close();
  });

  async function create(name: string, action: Action, extra: TaskExtras = {}): Promise<Task> {
    const res = await h.client.createTask({ task: { name, schedule: { cron: NEVER }, action, ...extra } });
    return res.task!;
  }

  async function finalOf(id: string, timeoutMs = 5_000): Promise<Execution> {
    return eventually(async () => {
      const r = await h.client.getExecution({ id });
      return FINAL.has(r.execution!.state) ? r.execution! : undefined;
    }, timeoutMs, `execution ${id} to reach a final state`);
  }

  async function runToEnd(name: string, timeoutMs = 5_000): Promise<Execution> {
    const run = await h.client.runTask({ name });
    return finalOf(run.execution!.id, timeoutMs);
  }

  /**
   * A WatchExecutions stream that is known to be live: it also watches a probe task, which is
   * run until one of its events comes through, so no event of `taskNames` can be missed.
   */
  async function liveWatch(taskNames: string[]) {
    const events: Watched[] = [];
    const abort = new AbortController();
    const stream = h.client.watchExecutions({ taskNames: [...taskNames, PROBE] }, { signal: abort.signal });
    const reading = (async () => {
      try {
        for await (const r of stream) {
          const e = r.event!.execution!;
          events.push({ id: e.id, taskName: e.taskName, state: e.state, attempt: e.attempt });
        }
      } catch { /* cancelled */ }
    })();
    let live = false;
    for (let i = 0; i < 10 && !live; i++) {
      await h.client.runTask({ name: PROBE });
      const deadline = Date.now() + 500;
      while (!live && Date.now() < deadline) {
        live = events.some((e) => e.taskName === PROBE);
        if (!live) await sleep(20);
      }
    }
    assert.ok(live, 'the watch stream delivers events');
    return {
      of: (id: string) => events.filter((e) => e.id === id),
      stop: async () => {
        abort.abort();
        await reading;
      },
    };
  }

  test('nats_request: two service errors, then success on attempt 3; run headers; one event per state change', async () => {
    const name = 'req-flaky';
    const subject = `${h.prefix}.req.flaky`;
    const seen = respond(h, subject, (m, n) => {
      if (n <= 2) m.respond(enc('not yet'), { headers: serviceError('boom', '500') });
      else m.respond(enc('ok'));
    });
    await h.nc.flush();
    await create(name, natsRequest(subject, 'do it'), {
      retryPolicy: { maxAttempts: 5, initialBackoff: ms(100), multiplier: 1 },
    });
    const watch = await liveWatch([name]);

    const run = await h.client.runTask({ name });
    const exec = await finalOf(run.execution!.id);
    assert.equal(exec.state, ExecutionState.SUCCEEDED, `error: ${exec.error}`);
    assert.equal(exec.attempt, 3);
    assert.equal(exec.output, 'ok');
    assert.equal(exec.error, '');
    assert.equal(exec.attempts.length, 3);
    for (const a of exec.attempts.slice(0, 2)) {
      assert.equal(a.state, ExecutionState.FAILED);
      assert.match(a.error, /boom/);
      assert.match(a.error, /500/);
    }
    assert.equal(exec.attempts[2]!.state, ExecutionState.SUCCEEDED);
    assert.deepEqual(exec.attempts.map((a) => a.number), [1, 2, 3]);

    // The responder saw three requests, each identifying the run and its attempt.
    assert.equal(seen.length, 3);
    seen.forEach((m, i) => {
      assert.equal(m.string(), 'do it');
      assert.equal(m.headers?.get('Cronplane-Task'), name);
      assert.equal(m.headers?.get('Cronplane-Execution-Id'), exec.id);
      assert.equal(m.headers?.get('Cronplane-Attempt'), String(i + 1));
      assert.equal(m.headers?.get('Idempotency-Key'), exec.id);
      assert.match(m.headers?.get('Cronplane-Scheduled-Time') ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    });

    const events = await eventually(() => {
      const e = watch.of(exec.id);
      return e.some((x) => x.state === ExecutionState.SUCCEEDED) ? e : undefined;
    }, 3_000, 'the SUCCEEDED event on the watch stream');
    await watch.stop();
    // A RunTask execution waits for nothing, so it is stored RUNNING from the start (no PENDING).
    assert.deepEqual(events.map((e) => e.state), [
      ExecutionState.RUNNING,
      ExecutionState.RETRYING,
      ExecutionState.RUNNING,
      ExecutionState.RETRYING,
      ExecutionState.RUNNING,
      ExecutionState.SUCCEEDED,
    ]);
    assert.deepEqual(events.filter((e) => e.state === ExecutionState.RUNNING).map((e) => e.attempt), [1, 2, 3]);
  });

  test('nats_request slower than the attempt deadline: TIMED_OUT, and the late reply changes nothing', async () => {
    const name = 'req-slow';
    const subject = `${h.prefix}.req.slow`;
    let replied = 0;
    const seen = respond(h, subject, (m) => {
      setTimeout(() => {
        m.respond(enc('too late'));
        replied++;
      }, 1_000);
    });
    await h.nc.flush();
    await create(name, natsRequest(subject), { attemptDeadline: ms(300) });

    const exec = await runToEnd(name);
    assert.equal(exec.state, ExecutionState.TIMED_OUT, `error: ${exec.error}`);
    assert.match(exec.error, /deadline/);
    assert.equal(exec.attempts.length, 1);
    assert.equal(exec.attempts[0]!.state, ExecutionState.TIMED_OUT);
    assert.equal(exec.output, '');
    assert.equal(seen.length, 1);

    await eventually(() => (replied === 1 ? true : undefined), 3_000, 'the late reply');
    await sleep(200); // give the late reply time to arrive and (wrongly) be recorded
    const later = (await h.client.getExecution({ id: exec.id })).execution!;
    assert.equal(later.state, ExecutionState.TIMED_OUT);
    assert.equal(later.output, '');
    assert.equal(later.attempts.length, 1);
    assert.equal(later.attempts[0]!.state, ExecutionState.TIMED_OUT);
    assert.deepEqual(toMs(later.endTime), toMs(exec.endTime));
  });

  test('nats_request with no responders: FAILED quickly, saying so', async () => {
    const name = 'req-nobody';
    await create(name, natsRequest(`${h.prefix}.req.nobody`), { attemptDeadline: ms(10_000) });
    const exec = await runToEnd(name);
    assert.equal(exec.state, ExecutionState.FAILED, `error: ${exec.error}`);
    assert.match(exec.error, /no responders/);
    assert.ok(toMs(exec.endTime) - toMs(exec.startTime) < 2_000, 'no responders is known at once, not at the deadline');
  });

  test('http: 2xx succeeds with the body, run and user headers; 500, an unlisted code and a refused connection fail', async () => {
    const server = await startHttp((req) => {
      if (req.url === '/ok') return { status: 200, body: 'hello from http' };
      if (req.url === '/broken') return { status: 500, body: 'it broke' };
      return { status: 200, body: 'fine but not 202' };
    });
    try {
      const http = (url: string, successCodes: number[] = []): Action => ({
        kind: { case: 'http', value: { url, body: enc('payload-1'), headers: { 'X-User-Header': 'from-user' }, successCodes } },
      });

      await create('http-ok', http(`${server.base}/ok`));
      const ok = await runToEnd('http-ok');
      assert.equal(ok.state, ExecutionState.SUCCEEDED, `error: ${ok.error}`);
      assert.equal(ok.output, 'hello from http');
      const req = server.seen.find((r) => r.url === '/ok');
      assert.ok(req, 'the server got the request');
      assert.equal(req.method, 'POST');
      assert.equal(req.body, 'payload-1');
      assert.equal(req.headers['cronplane-task'], 'http-ok');
      assert.equal(req.headers['cronplane-execution-id'], ok.id);
      assert.equal(req.headers['cronplane-attempt'], '1');
      assert.equal(req.headers['idempotency-key'], ok.id);
      assert.match(String(req.headers['cronplane-scheduled-time']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.equal(req.headers['x-user-header'], 'from-user');

      await create('http-500', http(`${server.base}/broken`));
      const broken = await runToEnd('http-500');
      assert.equal(broken.state, ExecutionState.FAILED);
      assert.match(broken.error, /HTTP 500/);
      assert.equal(broken.output, 'it broke');

      await create('http-only-202', http(`${server.base}/other`, [202]));
      const unlisted = await runToEnd('http-only-202');
      assert.equal(unlisted.state, ExecutionState.FAILED);
      assert.match(unlisted.error, /HTTP 200/);

      const port = await closedPort();
      await create('http-refused', http(`http://127.0.0.1:${port}/nothing`), { attemptDeadline: ms(10_000) });
      const refused = await runToEnd('http-refused');
      assert.equal(refused.state, ExecutionState.FAILED, `error: ${refused.error}`);
      assert.match(refused.error, /ECONNREFUSED|refused/i);
      assert.ok(toMs(refused.endTime) - toMs(refused.startTime) < 2_000, 'a refused connection fails at once, not at the deadline');
      assert.equal(server.seen.length, 3);
    } finally {
      await server.close();
    }
  });

  test('nats_publish with jetstream: acked by a bound stream; FAILED when no stream takes the subject', async () => {
    const jsm = await jetstreamManager(h.nc);
    const stream = `${h.prefix}_actions`.toUpperCase();
    const subject = `${h.prefix}.js.bound`;
    await jsm.streams.add({ name: stream, subjects: [subject] });
    try {
      await create('js-bound', { kind: { case: 'natsPublish', value: { subject, payload: enc('into the stream'), jetstream: true } } });
      const exec = await runToEnd('js-bound');
      assert.equal(exec.state, ExecutionState.SUCCEEDED, `error: ${exec.error}`);
      assert.match(exec.output, new RegExp(`stream ${stream}\\b`));
      assert.match(exec.output, /sequence 1\b/);
      const stored = await jsm.streams.getMessage(stream, { seq: 1 });
      assert.ok(stored);
      assert.equal(stored.string(), 'into the stream');
      assert.equal(stored.header.get('Cronplane-Execution-Id'), exec.id);
      assert.equal(stored.header.get('Nats-Msg-Id'), exec.id);

      await create('js-unbound', {
        kind: { case: 'natsPublish', value: { subject: `${h.prefix}.js.unbound`, payload: enc('nowhere'), jetstream: true } },
      });
      const unbound = await runToEnd('js-unbound');
      assert.equal(unbound.state, ExecutionState.FAILED);
      assert.match(unbound.error, /js\.unbound/);
    } finally {
      await jsm.streams.delete(stream);
    }
  });

  test('overlap SKIP with a real slow responder on a per-second schedule: SKIPPED executions name the policy', async () => {
    const name = 'overlap-skip';
    const subject = `${h.prefix}.req.overlap`;
    respond(h, subject, (m) => {
      setTimeout(() => {
        try { m.respond(enc('slow ok')); } catch { /* connection closed at the end */ }
      }, 1_500);
    });
    await h.nc.flush();
    await h.client.createTask({
      task: { name, schedule: { cron: '* * * * * *' }, action: natsRequest(subject), overlapPolicy: OverlapPolicy.SKIP },
    });
    try {
      const skipped = await eventually(async () => {
        const r = await h.client.listExecutions({ taskName: name, states: [ExecutionState.SKIPPED] });
        return r.executions.length >= 1 ? r.executions : undefined;
      }, 3_500, 'a SKIPPED execution');
      assert.match(skipped[0]!.error, /overlap policy/);
      assert.match(skipped[0]!.error, /SKIP/);
      const running = await h.client.listExecutions({ taskName: name });
      assert.ok(running.executions.some((e) => e.state !== ExecutionState.SKIPPED), 'one execution actually ran');
    } finally {
      await h.client.pauseTask({ name, reason: 'test over' });
    }
  });
});
