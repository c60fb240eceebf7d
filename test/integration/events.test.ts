import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { status as Status, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type ConnectionOptions, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import { ExecutionState, type ExecutionEvent } from '../../src/gen/cronplane/v1/execution_pb.js';
import type { WatchExecutionsRequestSchema, WatchExecutionsResponse } from '../../src/gen/cronplane/v1/scheduler_service_pb.js';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { createSchedulerClient } from '../../src/client/scheduler-client.js';
import { ChildService } from '../helpers/child-service.js';
import { collect, metric } from '../helpers/observe.js';
import { JetStreamServer } from '../helpers/nats-cluster.js';
import { FlagJetStreamServer } from '../helpers/jetstream-server.js';
import { connectWhenUp } from '../helpers/nats-server.js';
import { eventually } from '../helpers/service-harness.js';

// Issue 4 end to end: the real `cronplane serve` as a child process, each test with its own
// JetStream nats-server on a free port (killed and restarted on the same port and store dir
// where the test says so) and its own SQLite store in a temp dir.

const encoder = new TextEncoder();
const STREAM = 'CRONPLANE_EVENTS_TEST';
/** A schedule that never fires during a test: executions only by RunTask. */
const NEVER = '0 0 1 1 *';
const FINAL = new Set(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELLED', 'SKIPPED', 'MISSED', 'LOST']);

/** A hang fails its test instead of the whole run. */
const TEST_TIMEOUT_MS = 60_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function publishTask(name: string, subject: string, cron = '* * * * * *') {
  return {
    name,
    schedule: { cron },
    action: { kind: { case: 'natsPublish' as const, value: { subject, payload: encoder.encode(`hello from ${name}`) } } },
    // A publish caught by the NATS kill must not hold the overlap slot for the default 60 s.
    attemptDeadline: { seconds: 5n },
  };
}

const stateName = (s: ExecutionState): string => ExecutionState[s];

/** Milliseconds of a google.protobuf.Timestamp (0 when unset). */
const ms = (t: { seconds: bigint; nanos: number } | undefined): number => (t === undefined ? 0 : Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6));

/** An execution event as both sides (the service's history and the NATS stream) describe it. */
interface Ev {
  sequence: number;
  id: string;
  task: string;
  execution: string;
  state: string;
  error: string;
}

function fromWatch(e: ExecutionEvent): Ev {
  return {
    sequence: Number(e.sequence),
    id: e.id,
    task: e.execution!.taskName,
    execution: e.execution!.id,
    state: stateName(e.execution!.state),
    error: e.execution!.error,
  };
}

interface EventBody {
  sequence: string | number;
  id: string;
  time: string;
  execution: { id: string; taskName: string; state: string; error?: string };
}

/** One message read back from the events stream. */
interface StreamMsg {
  seq: number;
  subject: string;
  /** When the server stored it (the stream's own timestamp). */
  storedAt: number;
  headers: MsgHdrs;
  data: Uint8Array;
  json<T>(): T;
}

function fromStream(m: StreamMsg): Ev {
  const b = m.json<EventBody>();
  return {
    sequence: Number(b.sequence),
    id: b.id,
    task: b.execution.taskName,
    execution: b.execution.id,
    state: b.execution.state.replace(/^EXECUTION_STATE_/, ''),
    error: b.execution.error ?? '',
  };
}

function duplicates<T>(values: T[]): T[] {
  const seen = new Set<T>();
  return values.filter((v) => (seen.has(v) ? true : (seen.add(v), false)));
}

/** State sequence per execution, in the order the events came. */
function storiesOf(events: Ev[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const e of events) m.set(e.execution, [...(m.get(e.execution) ?? []), e.state]);
  return m;
}

/**
 * A story an execution of a NATS publish may tell: [PENDING (claimed ahead),] RUNNING, a final
 * state; or PENDING then SKIPPED or CANCELLED; or only SKIPPED/MISSED.
 */
function validStory(states: string[]): boolean {
  if (states.length === 1) return states[0] === 'SKIPPED' || states[0] === 'MISSED';
  const started = states[0] === 'PENDING' ? states.slice(1) : states;
  if (started.length === 1) return states[0] === 'PENDING' && (started[0] === 'SKIPPED' || started[0] === 'CANCELLED');
  return started[0] === 'RUNNING' && started.length === 2 && FINAL.has(started[1]!);
}

/** A RunTask execution waits for nothing: RUNNING, then its final state. */
const EVENTS_PER_RUN = 2;

/** Everything the tests start, torn down in `after` even when a test failed half-way. */
const children: ChildService[] = [];
const servers: { destroy(): Promise<void> }[] = [];
const connections: NatsConnection[] = [];
const aborts: AbortController[] = [];

/**
 * A TCP hop between the service and NATS that the test can break: refuse connections
 * (`down`), and cut the first connection that carries `cutAfterBytes` from the service,
 * in the middle of whatever the service was sending (batches published, flushes not answered).
 */
class CuttableProxy {
  private readonly sockets = new Set<Socket>();
  up = true;
  cutAfterBytes: number | undefined;
  cuts = 0;

  private constructor(private readonly server: Server, readonly port: number) {}

  static async start(target: string): Promise<CuttableProxy> {
    const { hostname, port } = new URL(target);
    let proxy!: CuttableProxy;
    const server = createServer((client) => proxy.accept(client, hostname, Number(port)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new CuttableProxy(server, (server.address() as { port: number }).port);
    servers.push(proxy);
    return proxy;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Refuse new connections and drop the open ones. */
  down(): void {
    this.up = false;
    for (const s of this.sockets) s.destroy();
  }

  private accept(client: Socket, host: string, port: number): void {
    if (!this.up) {
      client.destroy();
      return;
    }
    const upstream = tcpConnect(port, host);
    this.sockets.add(client).add(upstream);
    // Every connection made while a cut is armed carries the limit (the service's events have
    // a connection of their own, beside the actions'); the first to reach it is cut, once.
    const limit = this.cutAfterBytes;
    let carried = 0;
    const cut = () => { client.destroy(); upstream.destroy(); };
    client.on('data', (chunk: Buffer) => {
      if (limit !== undefined && this.cutAfterBytes !== undefined && carried + chunk.length > limit) {
        this.cutAfterBytes = undefined;
        // the part up to the limit goes through, the rest never arrives
        upstream.write(chunk.subarray(0, limit - carried), () => { this.cuts++; cut(); });
        carried = limit;
        client.pause();
        return;
      }
      carried += chunk.length;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    for (const s of [client, upstream]) {
      s.on('error', cut);
      s.on('close', () => { this.sockets.delete(s); cut(); });
    }
  }

  async destroy(): Promise<void> {
    this.down();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

async function jetStreamServer(): Promise<JetStreamServer> {
  const s = await JetStreamServer.startSingle();
  servers.push(s);
  return s;
}

async function flagServer(args: string[]): Promise<FlagJetStreamServer> {
  const s = await FlagJetStreamServer.start(args);
  servers.push(s);
  return s;
}

function service(natsUrl: string, env: Record<string, string> = {}): ChildService {
  const svc = new ChildService({ natsUrl, env });
  children.push(svc);
  return svc;
}

async function natsClient(url: string, options: Partial<ConnectionOptions> = {}): Promise<NatsConnection> {
  const nc = await connect({ servers: url, ...options });
  connections.push(nc);
  return nc;
}


/** Both of the service's NATS connections saw the server go: the actions' and the events' (publisher thread). */
async function natsGone(svc: ChildService): Promise<void> {
  await svc.waitForLine((l) => l.component === 'nats' && l.msg === 'nats disconnected', 5_000, "the actions' 'nats disconnected'");
  await svc.waitForLine((l) => l.connection === 'events' && l.msg === 'nats disconnected', 5_000, "the events' 'nats disconnected'");
}

async function outboxDrained(svc: ChildService, timeoutMs = 10_000): Promise<void> {
  await eventually(async () => ((await metric(svc, 'cronplane_outbox_events')) === 0 ? true : undefined), timeoutMs, 'the outbox drained to NATS');
}

/** Resident set size of a process, in MB. */
function rssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(m !== null, 'VmRSS in /proc/<pid>/status');
  return Number(m[1]) / 1024;
}

/** Every message of the stream, by stream sequence. */
async function readStream(nc: NatsConnection, stream: string): Promise<StreamMsg[]> {
  const jsm = await jetstreamManager(nc);
  const { state } = await jsm.streams.info(stream);
  const seqs = state.messages === 0 ? [] : Array.from({ length: state.last_seq - state.first_seq + 1 }, (_, i) => state.first_seq + i);
  const out: StreamMsg[] = [];
  for (let i = 0; i < seqs.length; i += 50) {
    const got = await Promise.all(seqs.slice(i, i + 50).map((seq) => jsm.streams.getMessage(stream, { seq })));
    for (const m of got) {
      if (m === null) continue;
      out.push({ seq: m.seq, subject: m.subject, storedAt: m.time.getTime(), headers: m.header, data: m.data, json: <T>() => m.json<T>() });
    }
  }
  return out;
}

/** Creates the never-firing `sentinel` task and runs it once: sequence 1 is its, so after_sequence 1 replays every later event. */
async function withSentinel(svc: ChildService): Promise<void> {
  await svc.client.createTask({ task: publishTask('sentinel', `${svc.prefix}.jobs.sentinel`, NEVER) });
  const run = await svc.client.runTask({ name: 'sentinel' });
  await finalState(svc, run.execution!.id);
}

async function finalState(svc: ChildService, id: string, timeoutMs = 8_000): Promise<string> {
  return eventually(async () => {
    const s = stateName((await svc.client.getExecution({ id })).execution!.state);
    return FINAL.has(s) ? s : undefined;
  }, timeoutMs, `execution ${id} in a final state`);
}

/**
 * Watch with `request` and collect every event until `stop` says so (the stop event included).
 * Cancels by the abort signal and keeps draining, so grpc-js's CANCELLED lands in this loop.
 */
async function watchUntil(
  svc: ChildService,
  request: MessageInitShape<typeof WatchExecutionsRequestSchema>,
  stop: (e: ExecutionEvent) => boolean,
  timeoutMs = 10_000,
): Promise<ExecutionEvent[]> {
  const abort = new AbortController();
  aborts.push(abort);
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  const out: ExecutionEvent[] = [];
  let done = false;
  try {
    for await (const r of svc.client.watchExecutions(request, { signal: abort.signal })) {
      if (done) continue;
      out.push(r.event!);
      if (stop(r.event!)) {
        done = true;
        abort.abort();
      }
    }
  } catch (err) {
    if (!abort.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  const text = JSON.stringify(request, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
  assert.ok(done, `watch ${text} did not reach its stop event within ${timeoutMs} ms (got ${out.length})`);
  return out;
}

/** The service's own history of execution events after `afterSequence`, up to a fresh sentinel run. */
async function historyViaWatch(svc: ChildService, afterSequence = 1): Promise<Ev[]> {
  const run = await svc.client.runTask({ name: 'sentinel' });
  const id = run.execution!.id;
  const events = await watchUntil(svc, { afterSequence: BigInt(afterSequence) }, (e) => e.execution!.id === id);
  return events.map(fromWatch);
}

/** Run `fn` `n` times, at most `concurrency` at once. */
async function runMany(n: number, concurrency: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) await fn(next++);
  }));
}

/** Checks that every CloudEvents header is there and agrees with itself. */
function assertCloudEvent(h: MsgHdrs, expect: { type: string; subject: string; node: string }, what: string): string {
  const id = h.get('ce-id');
  assert.match(id, /^[0-9a-f-]{36}$/, `ce-id of ${what}`);
  assert.equal(h.get('Nats-Msg-Id'), id, `Nats-Msg-Id = ce-id for ${what}`);
  assert.equal(h.get('ce-specversion'), '1.0', what);
  assert.equal(h.get('ce-type'), expect.type, what);
  assert.equal(h.get('ce-subject'), expect.subject, what);
  assert.equal(h.get('ce-source'), `/cronplane/${expect.node}`, what);
  assert.equal(h.get('content-type'), 'application/json', what);
  assert.match(h.get('ce-time'), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, `ce-time of ${what}`);
  return id;
}

/**
 * The heart of "none missing, none duplicated, in order": the stream's messages for these
 * tasks against the service's own history, event by event.
 */
function assertSameEvents(streamMsgs: StreamMsg[], history: Ev[], node: string, label: string): void {
  const fromNats = streamMsgs.map((m) => {
    const ev = fromStream(m);
    const ceId = assertCloudEvent(m.headers, { type: `io.cronplane.execution.${ev.state.toLowerCase()}`, subject: ev.task, node }, `stream message ${m.seq}`);
    assert.equal(ceId, ev.id, `ce-id = body id (stream message ${m.seq})`);
    assert.equal(m.subject.split('.').slice(-2).join('.'), `${ev.task}.${ev.state.toLowerCase()}`, `subject of stream message ${m.seq}`);
    return ev;
  });
  const ids = fromNats.map((e) => e.id);
  const historyIds = new Set(history.map((e) => e.id));
  const natsIds = new Set(ids);
  assert.deepEqual(duplicates(ids), [], `${label}: duplicated on the stream (by ce-id)`);
  assert.deepEqual(history.filter((e) => !natsIds.has(e.id)).map((e) => `${e.sequence} ${e.execution} ${e.state}`), [], `${label}: missing from the stream`);
  assert.deepEqual(fromNats.filter((e) => !historyIds.has(e.id)).map((e) => `${e.sequence} ${e.execution} ${e.state}`), [], `${label}: on the stream but not in the history`);
  // Same events, same order, same content.
  assert.deepEqual(fromNats, history, `${label}: stream and history differ`);
  const seqs = fromNats.map((e) => e.sequence);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), `${label}: stream order is sequence order`);
  for (const [execution, states] of storiesOf(fromNats)) assert.ok(validStory(states), `${label}: execution ${execution} went ${states.join('→')}`);
}

describe('events are never lost (issue 4)', () => {
  after(async () => {
    for (const a of aborts) a.abort();
    await Promise.allSettled(children.map((c) => c.dispose()));
    await Promise.allSettled(connections.map((c) => c.close()));
    await Promise.allSettled(servers.map((s) => s.destroy()));
  });

  test('NATS killed for 10 s under a per-second task: every event reaches the stream, once, in order', { timeout: TEST_TIMEOUT_MS }, async () => {
    const js = await jetStreamServer();
    const svc = service(js.url, { CRONPLANE_EVENTS_STREAM: STREAM });
    await svc.start();
    await withSentinel(svc);
    await svc.client.createTask({ task: publishTask('tick', `${svc.prefix}.jobs.tick`) });
    await eventually(async () => {
      const l = await svc.client.listExecutions({ taskName: 'tick', states: [ExecutionState.SUCCEEDED] });
      return l.executions.length >= 2 ? true : undefined;
    }, 5_000, 'tick succeeding before the outage');

    // Kill in the middle of a second: no fire and no publish in flight at that instant.
    await sleep(((1_500 - (Date.now() % 1_000)) % 1_000) + 1);
    const killedAt = Date.now();
    await js.kill();
    await natsGone(svc);

    const failedDuring = await eventually(async () => {
      const l = await svc.client.listExecutions({ taskName: 'tick', states: [ExecutionState.FAILED] });
      return l.executions.length >= 3 ? l.executions : undefined;
    }, 6_000, 'tick failing while NATS is away');
    for (const e of failedDuring) assert.match(e.error, /NATS is not connected/);
    assert.equal(await metric(svc, 'cronplane_nats_connected'), 0);
    // Three executions failed since the kill: RUNNING and FAILED each, and the PENDING claims of
    // the last two (the first was claimed, and maybe published, before the kill).
    const waiting = await metric(svc, 'cronplane_outbox_events');
    assert.ok(waiting >= 8, `events wait in the outbox: ${waiting}`);

    await sleep(killedAt + 10_000 - Date.now());
    await js.start();
    const restartedAt = Date.now();
    await svc.waitForLine((l) => l.component === 'nats' && (l.msg === 'nats reconnected' || (l.msg === 'nats connected' && Date.parse(String(l.time)) > killedAt)), 10_000, 'the service reconnecting');
    await eventually(async () => {
      const l = await svc.client.listExecutions({ taskName: 'tick', states: [ExecutionState.SUCCEEDED] });
      return l.executions.filter((e) => ms(e.startTime) >= restartedAt).length >= 2 ? true : undefined;
    }, 8_000, 'tick succeeding again after the restart');

    // Stop the flow so there is a fixed set to compare: pause, wait for the last execution to end, drain.
    await svc.client.pauseTask({ name: 'tick' });
    await eventually(async () => {
      const l = await svc.client.listExecutions({ taskName: 'tick', pageSize: 1000 });
      return l.executions.every((e) => FINAL.has(stateName(e.state))) ? true : undefined;
    }, 8_000, 'every tick execution final');
    await outboxDrained(svc);

    const history = (await historyViaWatch(svc)).filter((e) => e.task === 'tick');
    const nc = await natsClient(js.url);
    const all = await readStream(nc, STREAM);
    const tick = all.filter((m) => m.subject.startsWith(`${svc.prefix}.executions.tick.`));
    assertSameEvents(tick, history, svc.nodeName, 'tick');

    // The history itself is complete: every stored execution of tick is on the stream, ending as stored.
    const executions = (await svc.client.listExecutions({ taskName: 'tick', pageSize: 1000 })).executions;
    const stories = storiesOf(tick.map(fromStream));
    assert.equal(stories.size, executions.length, 'one story per execution');
    for (const e of executions) assert.equal(stories.get(e.id)?.at(-1), stateName(e.state), `execution ${e.id} ends as stored`);

    // The outage is in there: failed executions, stored by NATS only after it came back.
    const outage = tick.filter((m) => {
      const b = m.json<EventBody>();
      return b.execution.state === 'EXECUTION_STATE_FAILED' && /NATS is not connected/.test(b.execution.error ?? '');
    });
    assert.ok(outage.length >= 7, `FAILED events of the 10 s outage on the stream: ${outage.length}`);
    // nats-server was down from killedAt until after killedAt + 10 s: these were stored after that.
    for (const m of outage) assert.ok(m.storedAt >= killedAt + 10_000, `outage event stored at ${new Date(m.storedAt).toISOString()}, NATS back at ${new Date(restartedAt).toISOString()}`);
    // Each status change of the connection was logged.
    assert.ok(svc.lines.some((l) => l.msg === 'nats disconnected' && l.level === 'warn'));

    assert.deepEqual(await svc.stop('SIGTERM'), { code: 0, signal: null });
  });

  test('plain NATS: a backlog of thousands goes out in order, and a connection cut mid-drain loses none', { timeout: TEST_TIMEOUT_MS }, async () => {
    const js = await jetStreamServer();
    const proxy = await CuttableProxy.start(js.url);
    const svc = service(proxy.url); // no events stream: plain publishes, acked by flush
    await svc.start();
    await withSentinel(svc);
    await svc.client.createTask({ task: publishTask('burst', `${svc.prefix}.jobs.burst`, NEVER) });
    await outboxDrained(svc);

    // Everything that reaches NATS, as a subscriber next to the server sees it.
    const nc = await natsClient(js.url);
    const received: Array<{ id: string; sequence: number }> = [];
    nc.subscribe(`${svc.prefix}.executions.>`, {
      callback: (err, m) => {
        if (err !== null) return;
        const id = assertCloudEvent(m.headers!, { type: m.headers!.get('ce-type'), subject: m.headers!.get('ce-subject'), node: svc.nodeName }, `message ${received.length}`);
        const body = m.json<EventBody>();
        assert.equal(body.id, id);
        received.push({ id, sequence: Number(body.sequence) });
      },
    });
    await nc.flush();

    proxy.down();
    await natsGone(svc);
    const runs = 1_500;
    await runMany(runs, 32, () => svc.client.runTask({ name: 'burst' }));
    await eventually(async () => ((await metric(svc, 'cronplane_outbox_events')) >= runs * EVENTS_PER_RUN ? true : undefined), 20_000, 'the backlog in the outbox');

    // Back, but the first connection breaks after ~1.5 batches of events: some of what was
    // sent arrives, flushes in flight never come back, and the publisher must start over.
    proxy.cutAfterBytes = 450_000;
    proxy.up = true;
    await eventually(() => (proxy.cuts === 1 ? true : undefined), 15_000, 'the connection cut mid-drain');
    await outboxDrained(svc, 20_000);

    const history = (await historyViaWatch(svc)).filter((e) => e.task === 'burst');
    assert.equal(history.length, runs * EVENTS_PER_RUN);
    await eventually(() => (received.filter((r) => r.sequence <= history[history.length - 1]!.sequence).length >= history.length ? true : undefined), 5_000, 'every event at the subscriber');
    const firsts: number[] = [];
    const seen = new Set<string>();
    for (const r of received) {
      if (seen.has(r.id)) continue;
      seen.add(r.id);
      firsts.push(r.sequence);
    }
    assert.deepEqual(history.filter((e) => !seen.has(e.id)).map((e) => e.sequence), [], 'missing on NATS');
    assert.deepEqual(firsts, [...firsts].sort((a, b) => a - b), 'first copies in sequence order');
    // What the cut interrupted was sent again: proof that nothing was acked before its flush came back.
    assert.ok(received.length > seen.size, `re-sent after the cut: ${received.length - seen.size}`);
    assert.deepEqual(await svc.stop('SIGTERM'), { code: 0, signal: null });
  });

  test('cronplane stopped with events in its outbox: they are published after the restart', { timeout: TEST_TIMEOUT_MS }, async () => {
    const js = await jetStreamServer();
    const svc = service(js.url, { CRONPLANE_EVENTS_STREAM: STREAM });
    await svc.start();
    await withSentinel(svc);
    await svc.client.createTask({ task: publishTask('held', `${svc.prefix}.jobs.held`, NEVER) });
    await finalState(svc, (await svc.client.runTask({ name: 'held' })).execution!.id);
    await outboxDrained(svc);

    await js.kill();
    await natsGone(svc);
    const heldIds: string[] = [];
    for (let i = 0; i < 3; i++) heldIds.push((await svc.client.runTask({ name: 'held' })).execution!.id);
    for (const id of heldIds) assert.equal(await finalState(svc, id), 'FAILED');
    await svc.client.pauseTask({ name: 'held' }); // a task event waits too
    const depth = await metric(svc, 'cronplane_outbox_events');
    assert.ok(depth >= 3 * EVENTS_PER_RUN + 1, `outbox before the stop: ${depth}`);

    const stopAt = Date.now();
    assert.deepEqual(await svc.stop('SIGTERM'), { code: 0, signal: null });
    const exitedAt = Date.now();
    assert.ok(exitedAt - stopAt < 7_000, 'no long wait for a NATS that is not there');

    await js.start();
    await svc.start();
    await outboxDrained(svc);

    const history = (await historyViaWatch(svc)).filter((e) => e.task === 'held');
    assert.equal(history.length, 4 * EVENTS_PER_RUN, `the service kept 4 executions × ${EVENTS_PER_RUN} events of held`);
    const nc = await natsClient(js.url);
    const all = await readStream(nc, STREAM);
    const held = all.filter((m) => m.subject.startsWith(`${svc.prefix}.executions.held.`));
    assertSameEvents(held, history, svc.nodeName, 'held');
    const heldSet = new Set(heldIds);
    const late = held.filter((m) => heldSet.has(fromStream(m).execution));
    assert.equal(late.length, 3 * EVENTS_PER_RUN, 'the held events are on the stream');
    for (const m of late) assert.ok(m.storedAt >= exitedAt, 'published by the second run, not before the stop');
    assert.ok(late.every((m) => fromStream(m).state !== 'FAILED' || /NATS is not connected/.test(fromStream(m).error)));

    const paused = all.filter((m) => m.subject === `${svc.prefix}.tasks.held.paused`);
    assert.equal(paused.length, 1, 'the held task event is on the stream once');
    assert.ok(paused[0]!.storedAt >= exitedAt);

    assert.deepEqual(await svc.stop('SIGTERM'), { code: 0, signal: null });
  });

  test('a watcher that disconnects and resumes after its last sequence sees every event exactly once', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const js = await jetStreamServer();
    const svc = service(js.url); // plain NATS publish; the watch does not depend on the stream
    await svc.start();
    await withSentinel(svc);
    await svc.client.createTask({ task: publishTask('beat', `${svc.prefix}.jobs.beat`) });
    await svc.client.createTask({ task: publishTask('burst', `${svc.prefix}.jobs.burst`, NEVER) });
    // Events keep coming all along: manual runs every ~30 ms besides the per-second beat.
    let generating = true;
    const generator = (async () => {
      while (generating) {
        await svc.client.runTask({ name: 'burst' });
        await sleep(30);
      }
    })();
    generator.catch(() => undefined); // awaited below; a failed test must not leave it rejecting unhandled
    t.after(() => { generating = false; });

    // First connection: live, a few events, then gone.
    let seen = 0;
    const first = (await watchUntil(svc, {}, () => ++seen >= 12)).map(fromWatch);
    const lastSeen = first.at(-1)!.sequence;

    await sleep(500); // events the client misses while away
    // Second connection: resume after the last sequence while events keep coming, across the replay/live seam.
    const resumedAt = Date.now();
    // Both the resumed and the reference watch stop at the first event of the closing sentinel run.
    const closing = (e: ExecutionEvent) => e.execution!.taskName === 'sentinel' && Number(e.sequence) > lastSeen;
    const secondPromise = watchUntil(svc, { afterSequence: BigInt(lastSeen) }, closing, 15_000);
    await sleep(1_000);
    generating = false;
    await generator;
    await svc.client.runTask({ name: 'sentinel' });
    const secondRaw = await secondPromise;
    const second = secondRaw.map(fromWatch);

    assert.equal(second[0]!.sequence, lastSeen + 1, 'the resumed stream starts right after the last sequence seen');
    assert.ok(secondRaw.some((e) => ms(e.time) < resumedAt), 'the resume replayed events from before it');
    assert.ok(secondRaw.some((e) => ms(e.time) > resumedAt + 200), 'and went on live');

    // A fresh watch over the same range: the reference.
    const reference = (await watchUntil(svc, { afterSequence: BigInt(first[0]!.sequence - 1) }, closing)).map(fromWatch);
    const refSeqs = reference.map((e) => e.sequence);
    assert.deepEqual(refSeqs, Array.from({ length: refSeqs.length }, (_, i) => first[0]!.sequence + i), 'sqlite sequences are contiguous');
    const union = [...first, ...second];
    assert.deepEqual(duplicates(union.map((e) => e.id)), [], 'no event twice');
    assert.deepEqual(union, reference, 'no gap, no duplicate, same order');
    assert.ok(union.length >= 60, `events compared: ${union.length}`);

    // Filters apply to the replay as well: one task, one state.
    const wanted = reference.filter((e) => e.task === 'burst' && e.state === 'SUCCEEDED' && e.sequence > lastSeen);
    let n = 0;
    const filtered = (await watchUntil(svc, { afterSequence: BigInt(lastSeen), taskNames: ['burst'], states: [ExecutionState.SUCCEEDED] }, () => ++n >= wanted.length)).map(fromWatch);
    assert.deepEqual(filtered, wanted);

    assert.deepEqual(await svc.stop('SIGTERM'), { code: 0, signal: null });
  });

  test('a watcher that never reads is cut off with RESOURCE_EXHAUSTED; memory stays bounded', { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const js = await jetStreamServer();
    const svc = service(js.url, { CRONPLANE_WATCH_BUFFER: '50' });
    await svc.start();
    await withSentinel(svc);
    await svc.client.createTask({ task: publishTask('flood', `${svc.prefix}.jobs.flood`, NEVER) });
    await runMany(100, 10, () => svc.client.runTask({ name: 'flood' })); // warm up the code paths
    await sleep(300);
    // The stuck watcher starts after a known sequence: the reference history starts there too.
    const startAfter = (await historyViaWatch(svc)).at(-1)!.sequence;
    await sleep(200);
    const pid = svc.pid!;
    const baseline = rssMb(pid);

    // A raw grpc-js stream that reads one event and then stops reading. (Paused before its first
    // read, grpc-js would keep draining the HTTP/2 stream into an unbounded buffer of its own, so
    // the server would see a fast reader.) Its own client on its own HTTP/2 connection, as a real
    // slow consumer would be.
    const slowClient = createSchedulerClient(`127.0.0.1:${svc.grpcPort}`, { channelOptions: { 'grpc.use_local_subchannel_pool': 1 } });
    t.after(() => slowClient.close());
    const stuckAbort = new AbortController();
    aborts.push(stuckAbort);
    const stuck = slowClient.watchExecutions({ afterSequence: BigInt(startAfter) }, { signal: stuckAbort.signal }) as unknown as ClientReadableStream<WatchExecutionsResponse>;
    const got: Ev[] = [];
    stuck.once('data', (r: WatchExecutionsResponse) => {
      got.push(fromWatch(r.event!));
      stuck.pause();
    });
    // grpc-js emits the status as soon as it arrives, also while the stream is paused.
    let stuckError: ServiceError | undefined;
    let stuckErrorAt = 0;
    stuck.on('error', (err: ServiceError) => { stuckError = err; stuckErrorAt = Date.now(); });
    await sleep(300); // the watch registered

    let peak = baseline;
    const sampler = setInterval(() => { peak = Math.max(peak, rssMb(pid)); }, 50);
    const runs = 700;
    try {
      // RunTask answers before the execution ends, so this is a flood of ~3 events per call.
      await runMany(runs, 10, () => svc.client.runTask({ name: 'flood' }));
      await eventually(async () => ((await svc.client.listExecutions({ taskName: 'flood', states: [ExecutionState.PENDING, ExecutionState.RUNNING] })).executions.length === 0 ? true : undefined), 10_000, 'the flood ended');
      await sleep(300);
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, rssMb(pid));
    assert.ok(peak - baseline < 100, `RSS ${baseline.toFixed(0)} MB -> peak ${peak.toFixed(0)} MB while a watcher did not read`);
    // The service served everyone else all along: 700 RunTask calls were answered, and it still answers.
    assert.equal((await svc.client.getTask({ name: 'flood' })).task!.name, 'flood');

    // Now read: what was in flight arrives, then the status (if it did not come already).
    const readAt = Date.now();
    assert.equal(got.length, 1, 'the stuck watcher read exactly one event before it stopped reading');
    let ended: ServiceError | undefined;
    try {
      for await (const r of stuck) got.push(fromWatch((r as WatchExecutionsResponse).event!));
    } catch (err) {
      ended = err as ServiceError;
    }
    ended ??= stuckError;
    assert.equal(ended?.code, Status.RESOURCE_EXHAUSTED, `status ${ended?.code} ${ended?.details}`);
    assert.match(ended!.details, /after_sequence/);

    // The reference: the service's history after the sequence the stuck watcher started from.
    const reference = await historyViaWatch(svc, startAfter);
    const flood = reference.filter((e) => e.task === 'flood').length;
    assert.ok(flood >= runs * EVENTS_PER_RUN, `flood events in the history: ${flood}`);
    assert.ok(got.length < flood / 2, `cut off after ${got.length} of ${flood} events, not fed them all`);
    // Whatever it processed is a gapless prefix (grpc-js drops messages still unread when an error
    // status arrives), so resuming after the last processed sequence loses nothing.
    assert.deepEqual(got, reference.slice(0, got.length), 'a gapless prefix of the history');
    const resumed = await historyViaWatch(svc, got.at(-1)!.sequence);
    const union = [...got, ...resumed];
    assert.deepEqual(union.slice(0, reference.length), reference, 'resuming after the last event read loses nothing');
    const when = stuckErrorAt === 0 || stuckErrorAt >= readAt ? 'once it read again' : `${readAt - stuckErrorAt} ms before it read again`;
    t.diagnostic(`RSS baseline ${baseline.toFixed(1)} MB, peak ${peak.toFixed(1)} MB; stuck watcher got ${got.length} of ${flood} events, RESOURCE_EXHAUSTED ${when}`);

    assert.deepEqual(await svc.stop('SIGTERM'), { code: 0, signal: null });
  });

  test('task lifecycle events on <prefix>.tasks.<task>.<change> with CloudEvents headers and a TaskEvent body', { timeout: TEST_TIMEOUT_MS }, async () => {
    const js = await jetStreamServer();
    const svc = service(js.url, { CRONPLANE_EVENTS_STREAM: STREAM, CRONPLANE_EVENTS_MAX_AGE: '1h' });
    await svc.start();
    const nc = await natsClient(js.url);
    const msgs = collect(nc, `${svc.prefix}.tasks.>`);
    await nc.flush();

    await svc.client.createTask({ task: publishTask('life', `${svc.prefix}.jobs.life`, NEVER) });
    await svc.client.updateTask({ task: { name: 'life', description: 'changed' }, updateMask: { paths: ['description'] } });
    await svc.client.pauseTask({ name: 'life', reason: 'testing' });
    await svc.client.resumeTask({ name: 'life' });
    await svc.client.deleteTask({ name: 'life' });
    await eventually(() => (msgs.length >= 5 ? true : undefined), 5_000, 'five task events');
    await outboxDrained(svc);

    const changes = ['created', 'updated', 'paused', 'resumed', 'deleted'];
    assert.deepEqual(msgs.map((m) => m.subject), changes.map((c) => `${svc.prefix}.tasks.life.${c}`));
    const ids = msgs.map((m, i) => {
      const id = assertCloudEvent(m.headers!, { type: `io.cronplane.task.${changes[i]}`, subject: 'life', node: svc.nodeName }, m.subject);
      const body = m.json<{ id: string; time: string; change: string; task: { name: string; description?: string; state?: string } }>();
      assert.equal(body.id, id);
      assert.equal(body.change, `TASK_CHANGE_${changes[i]!.toUpperCase()}`);
      assert.equal(body.task.name, 'life');
      assert.equal(Date.parse(body.time), Date.parse(m.headers!.get('ce-time')));
      return id;
    });
    assert.deepEqual(duplicates(ids), []);
    const body = (i: number) => msgs[i]!.json<{ task: { description?: string; state?: string; pausedReason?: string } }>().task;
    assert.equal(body(1).description, 'changed');
    assert.equal(body(2).state, 'TASK_STATE_PAUSED');
    assert.equal(body(2).pausedReason, 'testing');
    assert.equal(body(3).state, 'TASK_STATE_ENABLED');
    assert.equal(body(4).description, 'changed', 'the deleted task as it was');

    // The stream covers both subject trees and holds the same five, once each.
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(STREAM);
    assert.ok(info.config.subjects.includes(`${svc.prefix}.executions.>`) && info.config.subjects.includes(`${svc.prefix}.tasks.>`), info.config.subjects.join(','));
    assert.equal(info.config.max_age, 3_600 * 1e9, 'retention from CRONPLANE_EVENTS_MAX_AGE');
    assert.equal(info.config.duplicate_window, 600 * 1e9, 'a re-publish within 10 min is dropped by Nats-Msg-Id');
    const onStream = (await readStream(nc, STREAM)).filter((m) => m.subject.startsWith(`${svc.prefix}.tasks.`));
    assert.deepEqual(onStream.map((m) => m.headers.get('ce-id')), ids);

    assert.deepEqual(await svc.stop('SIGTERM'), { code: 0, signal: null });
  });

  test('NATS credentials: user/password and token connect and publish; a wrong password is logged and gRPC still serves', { timeout: TEST_TIMEOUT_MS }, async () => {
    const [userServer, tokenServer] = await Promise.all([flagServer(['--user', 'u', '--pass', 'p4ss']), flagServer(['--auth', 'tok3n'])]);
    const good = service(userServer.url, { CRONPLANE_NATS_USER: 'u', CRONPLANE_NATS_PASSWORD: 'p4ss', CRONPLANE_EVENTS_STREAM: STREAM });
    const wrong = service(userServer.url, { CRONPLANE_NATS_USER: 'u', CRONPLANE_NATS_PASSWORD: 'wr0ng' });
    const token = service(tokenServer.url, { CRONPLANE_NATS_TOKEN: 'tok3n' });
    await Promise.all([good.start(), wrong.start(), token.start()]);

    const ncUser = await natsClient(userServer.url, { user: 'u', pass: 'p4ss' });
    const ncToken = await natsClient(tokenServer.url, { token: 'tok3n' });
    const goodEvents = collect(ncUser, `${good.prefix}.executions.>`);
    const tokenEvents = collect(ncToken, `${token.prefix}.executions.>`);
    await Promise.all([ncUser.flush(), ncToken.flush()]);

    for (const [svc, events] of [[good, goodEvents], [token, tokenEvents]] as const) {
      await svc.waitForLine((l) => l.component === 'nats' && l.msg === 'nats connected', 3_000, `${svc === good ? 'user' : 'token'} service connected`);
      await svc.client.createTask({ task: publishTask('authd', `${svc.prefix}.jobs.authd`, NEVER) });
      const id = (await svc.client.runTask({ name: 'authd' })).execution!.id;
      assert.equal(await finalState(svc, id), 'SUCCEEDED');
      await eventually(() => (events.some((m) => m.subject === `${svc.prefix}.executions.authd.succeeded`) ? true : undefined), 5_000, 'the events on NATS');
      assert.deepEqual(events.map((m) => m.subject.split('.').pop()), ['running', 'succeeded']);
      assert.equal(await metric(svc, 'cronplane_nats_connected'), 1);
    }
    await outboxDrained(good);
    const onStream = (await readStream(ncUser, STREAM)).filter((m) => m.subject.startsWith(`${good.prefix}.executions.authd.`));
    assert.equal(onStream.length, EVENTS_PER_RUN, 'published through the events stream with the credentials');

    // Wrong password: serving, saying why, executions fail cleanly, nothing leaks.
    const warned = await wrong.waitForLine((l) => /nats not reachable/i.test(String(l.msg)), 3_000, "'nats not reachable'");
    assert.match(String(warned['err']), /authori[sz]ation/i);
    await wrong.client.createTask({ task: publishTask('noauth', `${wrong.prefix}.jobs.noauth`, NEVER) });
    assert.equal((await wrong.client.getTask({ name: 'noauth' })).task!.name, 'noauth');
    const failed = (await wrong.client.runTask({ name: 'noauth' })).execution!.id;
    assert.equal(await finalState(wrong, failed), 'FAILED');
    assert.match((await wrong.client.getExecution({ id: failed })).execution!.error, /NATS is not connected/);
    assert.equal(await metric(wrong, 'cronplane_nats_connected'), 0);
    assert.ok(await metric(wrong, 'cronplane_outbox_events') >= 3, 'its events wait');

    for (const svc of [good, wrong, token]) assert.deepEqual(await svc.stop('SIGTERM'), { code: 0, signal: null });
    for (const svc of [good, wrong, token]) {
      const text = svc.run.raw.join('\n') + svc.run.stderr;
      for (const secret of ['p4ss', 'wr0ng', 'tok3n']) assert.ok(!text.includes(secret), `${secret} in the logs`);
    }
  });

  test('NATS comes back without its JetStream state: the events stream is created again and the outbox drains', {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const js = await jetStreamServer();
    const svc = service(js.url, { CRONPLANE_EVENTS_STREAM: STREAM });
    await svc.start();
    await svc.client.createTask({ task: publishTask('phoenix', `${svc.prefix}.jobs.phoenix`, NEVER) });
    await finalState(svc, (await svc.client.runTask({ name: 'phoenix' })).execution!.id);
    await outboxDrained(svc);

    // Same port, empty store: a NATS replaced without a persistent volume, or a stream an operator deleted.
    await js.kill();
    rmSync(js.options.storeDir, { recursive: true, force: true });
    await js.start();
    // The actions' connection (component nats), not the events' (component outbox): the run below needs it.
    await svc.waitForLine((l) => l.component === 'nats' && l.msg === 'nats reconnected', 10_000, "'nats reconnected'");
    const id = (await svc.client.runTask({ name: 'phoenix' })).execution!.id;
    assert.equal(await finalState(svc, id), 'SUCCEEDED', 'the action itself publishes fine');
    try {
      await outboxDrained(svc, 5_000);
    } catch (err) {
      const warnings = svc.lines.filter((l) => /events stream publish failed/.test(String(l.msg)));
      throw new Error(`${(err as Error).message}; outbox ${await metric(svc, 'cronplane_outbox_events')}, ${warnings.length} × "${String(warnings.at(-1)?.['err'])}"`);
    }
    const nc = await natsClient(js.url);
    const onStream = (await readStream(nc, STREAM)).filter((m) => fromStream(m).execution === id);
    assert.equal(onStream.length, EVENTS_PER_RUN);
    assert.deepEqual(await svc.stop('SIGTERM'), { code: 0, signal: null });
  });

  test('the outbox is bounded: a metric and a warning as it fills, the oldest dropped beyond the limit', { timeout: TEST_TIMEOUT_MS }, async () => {
    const js = await jetStreamServer();
    const svc = service(js.url, { CRONPLANE_OUTBOX_LIMIT: '10', CRONPLANE_EVENTS_STREAM: STREAM });
    await svc.start();
    await svc.client.createTask({ task: publishTask('bounded', `${svc.prefix}.jobs.bounded`, NEVER) });
    await outboxDrained(svc);
    await js.kill();
    await natsGone(svc);
    const ids: string[] = [];
    for (let i = 0; i < 9; i++) ids.push((await svc.client.runTask({ name: 'bounded' })).execution!.id);
    for (const id of ids) await finalState(svc, id);
    assert.equal(await metric(svc, 'cronplane_outbox_events'), 10, 'at the limit, not beyond');
    // 9 runs x 2 events into a limit of 10: 8 dropped, reported (maybe over several lines) as errors.
    const droppedLines = await eventually(() => {
      const lines = svc.lines.filter((l) => /outbox full/.test(String(l.msg)));
      return lines.reduce((n, l) => n + Number(l['dropped']), 0) >= 8 ? lines : undefined;
    }, 3_000, "'outbox full' lines adding up to 8");
    assert.ok(droppedLines.every((l) => l.level === 'error'));
    assert.equal(droppedLines.reduce((n, l) => n + Number(l['dropped']), 0), 8);
    const filling = await svc.waitForLine((l) => /outbox filling up/.test(String(l.msg)), 3_000, "'outbox filling up'");
    assert.equal(filling.level, 'warn');

    // When NATS is back, the newest ten go out, in order.
    await js.start();
    await outboxDrained(svc);
    const nc = await connectWhenUp(js.url);
    connections.push(nc);
    const onStream = (await readStream(nc, STREAM)).filter((m) => m.subject.startsWith(`${svc.prefix}.executions.bounded.`)).map(fromStream);
    const history = (await svc.client.listExecutions({ taskName: 'bounded', pageSize: 100 })).executions;
    assert.equal(history.length, 9, 'the history keeps every execution');
    assert.equal(onStream.length, 10);
    assert.deepEqual(onStream.map((e) => e.sequence), Array.from({ length: 10 }, (_, i) => onStream[0]!.sequence + i), 'the newest ten, in order');
    assert.equal(onStream.at(-1)!.execution, ids.at(-1));
    assert.deepEqual(await svc.stop('SIGTERM'), { code: 0, signal: null });
  });
});
