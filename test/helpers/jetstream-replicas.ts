import type { Msg, NatsConnection } from '@nats-io/transport-node';
import type { Execution } from '../../src/gen/cronplane/v1/execution_pb.js';
import type { SchedulerClient } from '../../src/client/scheduler-client.js';
import { ChildService } from './child-service.js';
import { uniquePrefix } from './service-harness.js';

/** What every replica of one deployment shares: the NATS servers, the subject prefix, the events stream. */
export interface Deployment {
  prefix: string;
  stream: string;
  natsUrls: string[];
  /** More CRONPLANE_* settings, the same for every replica (membership ttl, JetStream replicas, ...). */
  env?: Record<string, string>;
}

/** A fresh deployment's names: a unique subject prefix and a stream named after it. */
export function newDeployment(natsUrls: string[], env: Record<string, string> = {}): Deployment {
  const prefix = uniquePrefix();
  return { prefix, stream: `CP_${prefix}`, natsUrls, env };
}

/** `cronplane serve` with CRONPLANE_STORE=jetstream, one replica of `deployment` named `nodeName`. */
export function jetStreamReplica(deployment: Deployment, nodeName: string): ChildService {
  return new ChildService({
    nodeName,
    natsUrl: deployment.natsUrls.join(','),
    env: {
      CRONPLANE_STORE: 'jetstream',
      CRONPLANE_SUBJECT_PREFIX: deployment.prefix,
      CRONPLANE_EVENTS_STREAM: deployment.stream,
      CRONPLANE_LOG_LEVEL: 'info',
      ...deployment.env,
    },
  });
}

/** Milliseconds of a google.protobuf.Timestamp (0 when unset). */
export const tsMs = (t: { seconds: bigint; nanos: number } | undefined): number =>
  t === undefined ? 0 : Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6);

/** A google.protobuf.Duration of `n` ms. */
export const durationOf = (n: number) => ({ seconds: BigInt(Math.floor(n / 1000)), nanos: (n % 1000) * 1_000_000 });

/** Every execution the replica knows (optionally of one task), all pages. */
export async function allExecutions(client: SchedulerClient, taskName = ''): Promise<Execution[]> {
  const out: Execution[] = [];
  let pageToken = '';
  for (;;) {
    const page = await client.listExecutions({ taskName, pageSize: 1000, pageToken }, { timeoutMs: 20_000 });
    out.push(...page.executions);
    if (page.nextPageToken === '') return out;
    pageToken = page.nextPageToken;
  }
}

/** One action message as a receiving service sees it. */
export interface ActionMessage {
  task: string;
  scheduled: number;
  executionId: string;
  receivedAt: number;
}

/** Collect the messages nats_publish / nats_request actions send on `subject` (a wildcard is fine). */
export function collectActionMessages(nc: NatsConnection, subject: string): ActionMessage[] {
  const out: ActionMessage[] = [];
  nc.subscribe(subject, {
    callback: (err, m: Msg) => {
      if (err !== null) return;
      out.push({
        task: m.headers?.get('Cronplane-Task') ?? '',
        scheduled: Date.parse(m.headers?.get('Cronplane-Scheduled-Time') ?? ''),
        executionId: m.headers?.get('Cronplane-Execution-Id') ?? '',
        receivedAt: Date.now(),
      });
    },
  });
  return out;
}

/** `task@scheduled ms` -> how many times it was seen. */
export function countByOccurrence<T>(items: T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

export const occurrenceKey = (task: string, scheduled: number): string => `${task}@${new Date(scheduled).toISOString()}`;

/**
 * Check every (task, second) of [fromMs, toMs) against `counts`: which are missing and which
 * appear more than once; plus any doubled key outside the window.
 */
export function occurrenceReport(tasks: string[], fromMs: number, toMs: number, counts: Map<string, number>) {
  const missing: string[] = [];
  for (const task of tasks) {
    for (let t = fromMs; t < toMs; t += 1000) {
      if ((counts.get(occurrenceKey(task, t)) ?? 0) === 0) missing.push(occurrenceKey(task, t));
    }
  }
  const doubled = [...counts].filter(([, n]) => n > 1).map(([k, n]) => `${k} x${n}`);
  return { missing, doubled, expected: tasks.length * Math.round((toMs - fromMs) / 1000) };
}

/** Resolve at wall-clock time `at` (ms since epoch). */
export function sleepUntil(at: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, at - Date.now())));
}

/** The first whole second at least `leadMs` from now. */
export function nextSecond(leadMs: number): number {
  return Math.ceil((Date.now() + leadMs) / 1000) * 1000;
}

/** p-quantile of numbers (nearest rank); NaN for none. */
export function quantile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}
