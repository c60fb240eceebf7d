import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ownerOf } from '../../src/engine/placement.js';
import { ExecutionState, Trigger, type Execution } from '../../src/gen/cronplane/v1/execution_pb.js';
import type { ChildService } from '../helpers/child-service.js';
import {
  allExecutions,
  collectActionMessages,
  countByOccurrence,
  durationOf,
  jetStreamReplica,
  newDeployment,
  nextSecond,
  occurrenceKey,
  occurrenceReport,
  quantile,
  sleepUntil,
  tsMs,
  type Deployment,
} from '../helpers/jetstream-replicas.js';
import { JetStreamCluster, JetStreamServer, waitForJetStream } from '../helpers/nats-cluster.js';
import { eventually } from '../helpers/service-harness.js';

/**
 * Issue 7's must-shows, end to end: real nats-server processes (one per test, or a 3-node
 * cluster), cronplane replicas as child processes with CRONPLANE_STORE=jetstream, counting
 * every occurrence by (task, scheduled time) from what the actions publish and from history.
 */

const encoder = new TextEncoder();
const NODES = ['cp-1', 'cp-2', 'cp-3'];
const TAKEOVER_DELAY_MS = 1_500; // the default CRONPLANE_TAKEOVER_DELAY

const perSecondTask = (name: string, subject: string) => ({
  name,
  schedule: { cron: '* * * * * *' },
  action: { kind: { case: 'natsPublish' as const, value: { subject, payload: encoder.encode(name) } } },
});

/** Everything tests start; each test tears its own down when it ends, `after` catches the rest. */
const children: ChildService[] = [];
const servers: JetStreamServer[] = [];
const clusters: JetStreamCluster[] = [];
const connections: NatsConnection[] = [];

async function teardown(): Promise<void> {
  // REPLICAS_TEST_LOG_DIR=<dir>: keep every replica's log lines there, for looking into a failure.
  const logDir = process.env['REPLICAS_TEST_LOG_DIR'];
  if (logDir !== undefined) {
    mkdirSync(logDir, { recursive: true });
    for (const c of children) {
      for (const [i, run] of c.runs.entries()) {
        writeFileSync(join(logDir, `${c.prefix}-${c.nodeName}-${i}.log`), `${run.raw.join('\n')}\n${run.stderr}`);
      }
    }
  }
  await Promise.allSettled(children.splice(0).map((c) => c.dispose()));
  await Promise.allSettled(connections.splice(0).map((c) => c.close()));
  await Promise.allSettled(servers.splice(0).map((s) => s.destroy()));
  await Promise.allSettled(clusters.splice(0).map((c) => c.destroy()));
}

after(teardown);

async function natsConnection(urls: string[]): Promise<NatsConnection> {
  const nc = await connect({ servers: urls, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  connections.push(nc);
  return nc;
}

/** Start one replica per node name: the first creates stream and buckets, the others join together. */
async function startReplicas(d: Deployment, names: string[]): Promise<ChildService[]> {
  const replicas = names.map((n) => jetStreamReplica(d, n));
  children.push(...replicas);
  await replicas[0]!.start(20_000);
  await Promise.all(replicas.slice(1).map((r) => r.start(20_000)));
  return replicas;
}

/** Resolve once `count` replicas heartbeat in the membership bucket. */
async function waitForMembers(nc: NatsConnection, count: number): Promise<void> {
  const kv = await new Kvm(nc).open('cronplane_nodes');
  await eventually(async () => {
    const keys: string[] = [];
    for await (const k of await kv.keys()) keys.push(k);
    return keys.length >= count ? true : undefined;
  }, 10_000, `${count} replicas in the membership bucket`);
  await new Promise((r) => setTimeout(r, 300)); // their watches deliver each other's keys
}

/** Resolve once every replica lists `count` tasks (read from its own copy of the KV bucket). */
async function waitForTasksEverywhere(replicas: ChildService[], count: number, timeoutMs = 5_000): Promise<number> {
  const start = Date.now();
  await eventually(async () => {
    for (const r of replicas) {
      const { tasks } = await r.client.listTasks({ pageSize: 1000 });
      if (tasks.length < count) return undefined;
    }
    return true;
  }, timeoutMs, `${count} tasks on every replica`);
  return Date.now() - start;
}

const countBy = <T>(items: T[], key: (item: T) => string): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const item of items) out[key(item)] = (out[key(item)] ?? 0) + 1;
  return out;
};

const lateness = (e: Execution): number => tsMs(e.startTime) - tsMs(e.scheduledTime);

function summary(values: number[]): string {
  return `p50 ${quantile(values, 0.5)} ms, p99 ${quantile(values, 0.99)} ms, max ${Math.max(...values)} ms`;
}

describe('replicas on NATS JetStream (child processes, own nats-servers)', () => {
  test('3 replicas, 50 per-second tasks for 30 s: every occurrence exactly once, the work spread over the replicas', async (t: TestContext) => {
    t.after(teardown);
    const server = await JetStreamServer.startSingle();
    servers.push(server);
    const d = newDeployment([server.url]);
    const nc = await natsConnection([server.url]);
    const messages = collectActionMessages(nc, `${d.prefix}.jobs.>`);
    await nc.flush();

    const replicas = await startReplicas(d, NODES);
    await waitForMembers(nc, NODES.length);

    // All 50 created through cp-1: cp-2 and cp-3 learn them only from the KV watch.
    const tasks = Array.from({ length: 50 }, (_, i) => `tick-${String(i).padStart(2, '0')}`);
    for (const name of tasks) await replicas[0]!.client.createTask({ task: perSecondTask(name, `${d.prefix}.jobs.${name}`) });
    const propagationMs = await waitForTasksEverywhere(replicas, tasks.length);

    const from = nextSecond(1_000);
    const to = from + 30_000;
    // Past the window: the owners' fires, then the non-owners' takeover attempts (refused), settle.
    await sleepUntil(to + TAKEOVER_DELAY_MS + 1_500);

    const msgCounts = countByOccurrence(messages.filter((m) => tasks.includes(m.task)), (m) => occurrenceKey(m.task, m.scheduled));
    const byMessages = occurrenceReport(tasks, from, to, msgCounts);
    // The history, asked of a replica that created none of the tasks.
    const executions = await allExecutions(replicas[1]!.client);
    const scheduled = executions.filter((e) => e.trigger === Trigger.SCHEDULE && tasks.includes(e.taskName));
    const byHistory = occurrenceReport(tasks, from, to, countByOccurrence(scheduled, (e) => occurrenceKey(e.taskName, tsMs(e.scheduledTime))));
    const inWindow = scheduled.filter((e) => tsMs(e.scheduledTime) >= from && tsMs(e.scheduledTime) < to);
    const byNode = countBy(inWindow, (e) => e.node);
    const shares = NODES.map((n) => (byNode[n] ?? 0) / inWindow.length);
    const onOwner = inWindow.filter((e) => e.node === ownerOf(e.taskName, NODES, NODES[0]!)).length / inWindow.length;
    t.diagnostic(`tasks on every replica ${propagationMs} ms after the last CreateTask returned`);
    t.diagnostic(`executions per replica in the window: ${JSON.stringify(byNode)} (shares ${shares.map((x) => (x * 100).toFixed(1) + '%').join(' / ')})`);
    t.diagnostic(`ran on the rendezvous owner: ${(onOwner * 100).toFixed(1)}%; lateness ${summary(inWindow.filter((e) => e.startTime !== undefined).map(lateness))}`);

    // 1. From what the actions published.
    assert.deepEqual(byMessages.doubled, [], 'no occurrence published twice');
    assert.deepEqual(byMessages.missing.slice(0, 20), [], `no occurrence missing from NATS (${byMessages.missing.length} of ${byMessages.expected})`);

    // 2. From the history.
    assert.deepEqual(byHistory.doubled, [], 'no occurrence executed twice');
    assert.deepEqual(byHistory.missing.slice(0, 20), [], `no occurrence missing from ListExecutions (${byHistory.missing.length} of ${byHistory.expected})`);
    assert.equal(inWindow.length, tasks.length * 30);
    const notSucceeded = inWindow.filter((e) => e.state !== ExecutionState.SUCCEEDED);
    assert.deepEqual(notSucceeded.map((e) => `${e.taskName}@${tsMs(e.scheduledTime)} ${ExecutionState[e.state]} ${e.error}`), [], 'every one SUCCEEDED');
    // Each message names the execution the history holds for that occurrence.
    const idByOccurrence = new Map(inWindow.map((e) => [occurrenceKey(e.taskName, tsMs(e.scheduledTime)), e.id]));
    const mismatched = messages.filter((m) => idByOccurrence.has(occurrenceKey(m.task, m.scheduled)) && idByOccurrence.get(occurrenceKey(m.task, m.scheduled)) !== m.executionId);
    assert.equal(mismatched.length, 0, 'the published execution id is the recorded one');

    // 3. Every replica's read model holds the same window.
    for (const r of [replicas[0]!, replicas[2]!]) {
      const theirs = (await allExecutions(r.client)).filter((e) => e.trigger === Trigger.SCHEDULE && tsMs(e.scheduledTime) >= from && tsMs(e.scheduledTime) < to);
      assert.deepEqual(theirs.map((e) => e.id).sort(), inWindow.map((e) => e.id).sort(), `${r.nodeName} agrees with cp-2`);
    }

    // 4. Spread: each replica ran a meaningful share, the tasks rendezvous hashing gives it.
    for (const [i, share] of shares.entries()) assert.ok(share > 0.1, `${NODES[i]} ran ${(share * 100).toFixed(1)}% (> 10%): ${JSON.stringify(byNode)}`);
    assert.ok(onOwner > 0.9, `most occurrences run on their owner, not after the takeover delay: ${(onOwner * 100).toFixed(1)}%`);
  });

  test('SIGKILL one replica mid-run: nothing doubled, nothing missed, its running execution ends LOST', async (t: TestContext) => {
    t.after(teardown);
    const ttlMs = 2_000;
    const server = await JetStreamServer.startSingle();
    servers.push(server);
    const d = newDeployment([server.url], { CRONPLANE_MEMBERSHIP_TTL: '2s' });
    const nc = await natsConnection([server.url]);
    const messages = collectActionMessages(nc, `${d.prefix}.jobs.>`);
    // A responder that takes every request and never answers: the request runs until it is killed.
    const hangRequests = collectActionMessages(nc, `${d.prefix}.hang`);
    await nc.flush();

    const replicas = await startReplicas(d, NODES);
    await waitForMembers(nc, NODES.length);
    const tasks = Array.from({ length: 15 }, (_, i) => `job-${String(i).padStart(2, '0')}`);
    // The victim: the replica that owns most of the tasks (rendezvous hashing over the node names).
    const owned = (node: string) => tasks.filter((n) => ownerOf(n, NODES, NODES[0]!) === node);
    const victim = [...replicas].sort((a, b) => owned(b.nodeName).length - owned(a.nodeName).length)[0]!;
    const survivors = replicas.filter((r) => r !== victim);
    const victimTasks = owned(victim.nodeName);
    assert.ok(victimTasks.length >= 2, `the victim owns some tasks: ${victimTasks.join(', ')}`);
    for (const name of tasks) await survivors[0]!.client.createTask({ task: perSecondTask(name, `${d.prefix}.jobs.${name}`) });
    await survivors[0]!.client.createTask({
      task: {
        name: 'hang',
        schedule: { cron: '0 0 1 1 *' },
        attemptDeadline: durationOf(120_000),
        action: { kind: { case: 'natsRequest', value: { subject: `${d.prefix}.hang`, payload: encoder.encode('wait') } } },
      },
    });
    await waitForTasksEverywhere(replicas, tasks.length + 1);

    // The running execution: started on the victim, visible as RUNNING through a survivor.
    const run = await victim.client.runTask({ name: 'hang' });
    const hangId = run.execution!.id;
    assert.equal(run.execution!.node, victim.nodeName);
    await eventually(() => (hangRequests.length >= 1 ? true : undefined), 5_000, 'the request to reach the responder');
    assert.equal(hangRequests[0]!.executionId, hangId);
    await eventually(async () => {
      const e = await survivors[0]!.client.getExecution({ id: hangId });
      return e.execution!.state === ExecutionState.RUNNING ? true : undefined;
    }, 5_000, 'the execution RUNNING on a survivor');

    const from = nextSecond(1_000);
    await sleepUntil(from + 4_300); // mid-second: the victim has fired this second's occurrences
    const killedAt = Date.now();
    const exit = await victim.kill();
    assert.equal(exit.signal, 'SIGKILL');

    const lost = await eventually(async () => {
      const e = (await survivors[0]!.client.getExecution({ id: hangId })).execution!;
      return e.state === ExecutionState.LOST ? { e, at: Date.now() } : undefined;
    }, ttlMs + 10_000, 'the running execution to end LOST');
    const lostAfterMs = lost.at - killedAt;
    assert.equal(lost.e.node, victim.nodeName);
    assert.match(lost.e.error, /lost/);
    assert.ok(lostAfterMs <= ttlMs + 3_000, `LOST ${lostAfterMs} ms after the kill (ttl ${ttlMs} ms + 3 s)`);
    const other = (await survivors[1]!.client.getExecution({ id: hangId })).execution!;
    assert.equal(other.state, ExecutionState.LOST, 'the other survivor agrees');

    const to = Math.ceil((killedAt + 8_000) / 1000) * 1000;
    await sleepUntil(to + TAKEOVER_DELAY_MS + 1_500);

    const executions = await allExecutions(survivors[1]!.client);
    const scheduled = executions.filter((e) => e.trigger === Trigger.SCHEDULE && tasks.includes(e.taskName));
    const byHistory = occurrenceReport(tasks, from, to, countByOccurrence(scheduled, (e) => occurrenceKey(e.taskName, tsMs(e.scheduledTime))));
    const msgCounts = countByOccurrence(messages.filter((m) => tasks.includes(m.task)), (m) => occurrenceKey(m.task, m.scheduled));
    const inWindow = scheduled.filter((e) => tsMs(e.scheduledTime) >= from && tsMs(e.scheduledTime) < to);
    const afterKill = inWindow.filter((e) => tsMs(e.scheduledTime) > killedAt);
    const odd = inWindow.filter((e) => e.state !== ExecutionState.SUCCEEDED);
    const at = (e: Execution) => `${e.taskName}@kill${tsMs(e.scheduledTime) >= killedAt ? '+' : ''}${tsMs(e.scheduledTime) - killedAt}ms ${ExecutionState[e.state]} on ${e.node}: ${e.error}`;

    // Takeover: the victim's tasks, run late by the takeover delay until the survivors notice it gone, then on time.
    const taken = afterKill.filter((e) => victimTasks.includes(e.taskName) && e.startTime !== undefined);
    const lates = taken.map(lateness);
    const lateOnes = taken.filter((e) => lateness(e) >= 500).map((e) => tsMs(e.scheduledTime));
    const onTimeFrom = lateOnes.length === 0 ? killedAt : Math.max(...lateOnes) + 1000;
    // Gaps between action starts (a LOST execution counts if it had started: the victim ran it).
    let maxStartGap = 0;
    for (const name of victimTasks) {
      const starts = inWindow.filter((e) => e.taskName === name && e.startTime !== undefined).map((e) => tsMs(e.startTime)).sort((a, b) => a - b);
      for (let i = 1; i < starts.length; i++) maxStartGap = Math.max(maxStartGap, starts[i]! - starts[i - 1]!);
    }
    t.diagnostic(`victim ${victim.nodeName} owned ${victimTasks.length} of ${tasks.length} tasks; running execution LOST ${lostAfterMs} ms after SIGKILL`);
    t.diagnostic(`victim's tasks after the kill: lateness ${summary(lates)}; on time again for occurrences from ${onTimeFrom - killedAt} ms after the kill`);
    t.diagnostic(`largest gap between two starts of a victim's task: ${maxStartGap} ms; not SUCCEEDED: ${JSON.stringify(countBy(odd, (e) => ExecutionState[e.state]))}; per node after the kill: ${JSON.stringify(countBy(afterKill, (e) => e.node))}`);

    assert.deepEqual(byHistory.doubled, [], 'no occurrence executed twice');
    assert.deepEqual([...msgCounts].filter(([, n]) => n > 1), [], 'no occurrence published twice');
    assert.deepEqual(byHistory.missing, [], `every occurrence executed (${byHistory.missing.length} of ${byHistory.expected} missing)`);
    // Only what the victim had claimed before it died may be LOST; everything else SUCCEEDED.
    assert.deepEqual(
      odd.filter((e) => !(e.state === ExecutionState.LOST && e.node === victim.nodeName && tsMs(e.scheduledTime) <= killedAt)).map(at),
      [],
      'every occurrence SUCCEEDED, but for the victim\'s own unfinished ones (LOST)',
    );
    const published = new Set(messages.map((m) => occurrenceKey(m.task, m.scheduled)));
    const unpublished = inWindow.filter((e) => e.state === ExecutionState.SUCCEEDED && !published.has(occurrenceKey(e.taskName, tsMs(e.scheduledTime))));
    assert.deepEqual(unpublished.map(at), [], 'every SUCCEEDED occurrence published its message');
    assert.ok(afterKill.every((e) => e.node !== victim.nodeName), 'nothing after the kill ran on the dead replica');
    assert.ok(Math.max(...lates) <= TAKEOVER_DELAY_MS + 1_000, `taken-over occurrences at most the takeover delay late (+1 s slack): ${summary(lates)}`);
    // One period, plus the occurrence the victim claimed but never started (LOST while PENDING), plus the takeover delay.
    assert.ok(maxStartGap <= 2_000 + TAKEOVER_DELAY_MS + 500, `largest gap ${maxStartGap} ms <= 2 s + takeover delay (+0.5 s slack)`);
    assert.ok(onTimeFrom - killedAt <= ttlMs + 2_000, 'the survivors own the tasks once the victim is seen gone');
  });

  test('a 3-node NATS cluster with R3 stream and buckets: one NATS node killed, scheduling goes on', async (t: TestContext) => {
    t.after(teardown);
    const cluster = await JetStreamCluster.start(3, `cp-${process.pid}`);
    clusters.push(cluster);
    const admin = await natsConnection(cluster.urls);
    await waitForJetStream(admin, 20_000);
    const d = newDeployment(cluster.urls, { CRONPLANE_JETSTREAM_REPLICAS: '3' });
    const replicas = await startReplicas(d, NODES);
    await waitForMembers(admin, NODES.length);

    // Kill the node that leads what a fire needs: the claims bucket (no claim, no run), and, moved
    // there by leader step-downs, the tasks bucket (run counters), the membership bucket and the
    // events stream (history). One node leading several streams is common in a 3-node cluster;
    // leading them all is the worst case of "one NATS node down", and makes the test repeatable.
    const jsm = await jetstreamManager(admin);
    const streams = ['KV_cronplane_claims', 'KV_cronplane_tasks', 'KV_cronplane_nodes', d.stream, 'KV_cronplane_progress'];
    for (const stream of streams) assert.equal((await jsm.streams.info(stream)).config.num_replicas, 3, `${stream} is R3`);
    const leaderOf = async (stream: string) => (await jsm.streams.info(stream).catch(() => undefined))?.cluster?.leader;
    const victimName = (await leaderOf('KV_cronplane_claims'))!;
    const moveStart = Date.now();
    for (const stream of ['KV_cronplane_tasks', 'KV_cronplane_nodes', d.stream]) {
      for (let i = 0; i < 8 && (await leaderOf(stream)) !== victimName; i++) {
        const before = await leaderOf(stream);
        await admin.request(`$JS.API.STREAM.LEADER.STEPDOWN.${stream}`, undefined, { timeout: 5_000 }).catch(() => undefined);
        await eventually(async () => {
          const now = await leaderOf(stream);
          return now !== undefined && now !== before ? true : undefined;
        }, 10_000, `a new leader of ${stream}`).catch(() => undefined);
      }
    }
    const leaders: Record<string, string> = {};
    for (const stream of streams) leaders[stream] = (await leaderOf(stream)) ?? '?';
    const victimNode = cluster.servers.find((s) => s.options.name === victimName)!;
    assert.ok(victimNode !== undefined, `the claims leader ${victimName} is one of ours`);
    t.diagnostic(`leaders moved onto ${victimName} in ${Date.now() - moveStart} ms`);
    const otherUrls = cluster.servers.filter((s) => s !== victimNode).map((s) => s.url);
    const nc = await natsConnection(otherUrls); // the test's ears stay on nodes that live
    const messages = collectActionMessages(nc, `${d.prefix}.jobs.>`);
    await nc.flush();

    const tasks = Array.from({ length: 6 }, (_, i) => `beat-${i}`);
    for (const name of tasks) await replicas[0]!.client.createTask({ task: perSecondTask(name, `${d.prefix}.jobs.${name}`) });
    await waitForTasksEverywhere(replicas, tasks.length);

    const from = nextSecond(1_000);
    await sleepUntil(from + 3_300);
    const killedAt = Date.now();
    await victimNode.kill();
    // The documented bound: claims and events written during the election are retried for up to 20 s.
    const steadyFrom = Math.ceil((killedAt + 20_000) / 1000) * 1000;
    const to = steadyFrom + 4_000;
    await sleepUntil(to);
    // A task change through one replica still reaches the owner (its task watch came back).
    const pausedTask = tasks[0]!;
    const owner = ownerOf(pausedTask, NODES, NODES[0]!);
    const pauser = replicas.find((r) => r.nodeName !== owner)!;
    await pauser.client.pauseTask({ name: pausedTask, reason: 'testing the task watch' });
    const pausedAt = Date.now();
    await sleepUntil(to + TAKEOVER_DELAY_MS + 1_500);

    // Wait until a survivor's history holds every occurrence of the window in a final state.
    const survivor = replicas[2]!;
    const expected = tasks.length * ((to - from) / 1000);
    const FINAL = new Set([ExecutionState.SUCCEEDED, ExecutionState.FAILED, ExecutionState.TIMED_OUT, ExecutionState.CANCELLED, ExecutionState.SKIPPED, ExecutionState.MISSED, ExecutionState.LOST]);
    const windowOf = (all: Execution[]) =>
      all.filter((e) => e.trigger === Trigger.SCHEDULE && tasks.includes(e.taskName) && tsMs(e.scheduledTime) >= from && tsMs(e.scheduledTime) < to);
    let executions: Execution[] = [];
    await eventually(async () => {
      executions = await allExecutions(survivor.client);
      const w = windowOf(executions);
      return w.length >= expected && w.every((e) => FINAL.has(e.state)) ? true : undefined;
    }, 6_000, 'every occurrence of the window recorded in a final state').catch(() => undefined);

    const scheduled = executions.filter((e) => e.trigger === Trigger.SCHEDULE && tasks.includes(e.taskName));
    const byHistory = occurrenceReport(tasks, from, to, countByOccurrence(scheduled, (e) => occurrenceKey(e.taskName, tsMs(e.scheduledTime))));
    const msgCounts = countByOccurrence(messages.filter((m) => tasks.includes(m.task)), (m) => occurrenceKey(m.task, m.scheduled));
    const byMessages = occurrenceReport(tasks, from, to, msgCounts);
    const inWindow = windowOf(executions);
    const afterKill = inWindow.filter((e) => tsMs(e.scheduledTime) > killedAt);
    const succeededAfter = afterKill.filter((e) => e.state === ExecutionState.SUCCEEDED);
    // When fires resumed: the first start of an occurrence due after the kill.
    const resumedAt = Math.min(...succeededAfter.map((e) => tsMs(e.startTime)));
    const steady = inWindow.filter((e) => tsMs(e.scheduledTime) >= steadyFrom);
    const started = afterKill.filter((e) => e.startTime !== undefined);
    const takenOver = started.filter((e) => e.node !== ownerOf(e.taskName, NODES, NODES[0]!));
    const at = (e: Execution) => `${e.taskName}@kill${tsMs(e.scheduledTime) >= killedAt ? '+' : ''}${tsMs(e.scheduledTime) - killedAt}ms ${ExecutionState[e.state]} on ${e.node}${e.startTime === undefined ? ', never started' : `, ${lateness(e)} ms late`}: ${e.error}`;
    t.diagnostic(`killed NATS ${victimName}; leaders before: ${JSON.stringify(leaders)}`);
    t.diagnostic(`fires resumed ${resumedAt - killedAt} ms after the kill; window states ${JSON.stringify(countBy(inWindow, (e) => ExecutionState[e.state]))}`);
    t.diagnostic(`after the kill: ${succeededAfter.length} of ${afterKill.length} SUCCEEDED; lateness ${summary(started.map(lateness))}; ${takenOver.length} run by a non-owner (takeover delay), the last due ${Math.max(killedAt, ...takenOver.map((e) => tsMs(e.scheduledTime))) - killedAt} ms after the kill`);
    t.diagnostic(`occurrences without a record: ${byHistory.missing.length}/${byHistory.expected}; without an action message: ${byMessages.missing.length}/${byMessages.expected}`);

    const others = await Promise.all(replicas.slice(0, 2).map(async (r) => ({
      node: r.nodeName,
      history: windowOf(await allExecutions(r.client)).map((e) => `${e.id} ${ExecutionState[e.state]}`),
    })));

    await t.test('the must-show: nothing doubled, every task keeps running once the cluster has re-elected', () => {
      assert.deepEqual(byHistory.doubled, [], 'no occurrence executed twice');
      assert.deepEqual(byMessages.doubled, [], 'no occurrence published twice');
      assert.ok(Number.isFinite(resumedAt), 'fires resumed after the NATS node died');
      for (const name of tasks) {
        assert.ok(succeededAfter.some((e) => e.taskName === name && tsMs(e.scheduledTime) > resumedAt), `${name} keeps running after the node died`);
      }
      assert.deepEqual(byHistory.missing, [], 'every occurrence has a record: none silently dropped');
    });

    // Beyond the must-show: what a NATS node loss must not do either. Collected, so one run shows every problem.
    await t.test('no execution stuck, LOST on a live replica, or late 20 s after the kill', () => {
      const problems: string[] = [];
      for (const e of inWindow.filter((x) => !FINAL.has(x.state))) problems.push(`never finished: ${at(e)}`);
      for (const e of steady.filter((x) => x.state !== ExecutionState.SUCCEEDED || lateness(x) > 1_000 + TAKEOVER_DELAY_MS)) {
        problems.push(`20 s after the kill, not SUCCEEDED within the takeover delay: ${at(e)}`);
      }
      for (const e of inWindow.filter((x) => x.state === ExecutionState.LOST)) problems.push(`LOST although no cronplane replica died: ${at(e)}`);
      assert.deepEqual(problems, []);
    });

    // Not always true yet (seen once in about ten runs): a replica whose KV watch or stream
    // consumer was on the lost node takes longer than 1 s to see a pause made elsewhere, and its
    // local history still lags when the histories are compared (docs/replicas.md, known limits).
    await t.test('after the node loss, a pause through another replica stops the owner within 1 s, and every replica has the same history', {
      todo: 'known: after a NATS node loss a replica whose watch or consumer was on the lost node can lag by seconds',
    }, () => {
      const problems: string[] = [];
      for (const e of scheduled.filter((x) => x.taskName === pausedTask && tsMs(x.scheduledTime) >= pausedAt + 1_000)) {
        problems.push(`fired more than 1 s after a pause through ${pauser.nodeName} (owner ${owner}): ${at(e)}`);
      }
      const ours = new Set(inWindow.map((e) => `${e.id} ${ExecutionState[e.state]}`));
      for (const { node, history } of others) {
        const differ = history.filter((x) => !ours.has(x)).length + [...ours].filter((x) => !history.includes(x)).length;
        if (differ > 0) problems.push(`${node}'s history differs from ${survivor.nodeName}'s in ${differ} executions`);
      }
      assert.deepEqual(problems, []);
    });
  });
});
