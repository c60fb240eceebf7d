import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { executionLag, isFinalState, type ExecutionEvent, type ExecutionState } from '../domain/execution.js';

const FINAL_STATES: readonly ExecutionState[] = ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELLED', 'SKIPPED', 'MISSED', 'LOST'];

/**
 * The service's Prometheus metrics, all prefixed cronplane_, in a registry of their own (no globals).
 * SKIPPED and MISSED occurrences are counted in cronplane_executions_total{state="SKIPPED"|"MISSED"}.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly fires = new Counter({ name: 'cronplane_fires_total', help: 'Executions started (first attempt), by trigger', labelNames: ['trigger'], registers: [this.registry] });
  readonly lateness = new Histogram({
    name: 'cronplane_fire_lateness_seconds',
    help: 'Start of the first attempt minus the scheduled time',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly executions = new Counter({
    name: 'cronplane_executions_total',
    help: 'Executions that reached a final state, by state (SKIPPED and MISSED included)',
    labelNames: ['state'],
    registers: [this.registry],
  });
  readonly attemptDuration = new Histogram({
    name: 'cronplane_execution_duration_seconds',
    help: 'From first attempt start to final state',
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800],
    registers: [this.registry],
  });
  readonly attempts = new Histogram({
    name: 'cronplane_attempt_duration_seconds',
    help: 'Duration of each attempt of a finished execution, by how the attempt ended',
    labelNames: ['state'],
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800],
    registers: [this.registry],
  });
  readonly outboxDepth = new Gauge({ name: 'cronplane_outbox_events', help: 'Events waiting to be published to NATS', registers: [this.registry] });
  readonly outboxDropped = new Gauge({ name: 'cronplane_outbox_dropped_events', help: 'Events dropped from a full outbox before NATS had them, since the process started', registers: [this.registry] });
  readonly natsConnected = new Gauge({ name: 'cronplane_nats_connected', help: '1 while connected to NATS', registers: [this.registry] });
  readonly tasks = new Gauge({ name: 'cronplane_tasks', help: 'Tasks by state (ENABLED, PAUSED)', labelNames: ['state'], registers: [this.registry] });
  /** Set from the store at scrape time (setStoreWriterBusy). */
  readonly storeWriterBusy = new ThreadBusy(this.registry, 'cronplane_store_writer_busy_seconds_total',
    'Time the store\'s writer thread spent writing; its rate is the share of one core it uses (near 1: writes are the bottleneck)');
  /** Set from the store at scrape time (setPublisherBusy). */
  readonly publisherBusy = new ThreadBusy(this.registry, 'cronplane_events_publisher_busy_seconds_total',
    'Time the events publisher thread spent publishing; its rate is the share of one core it uses (near 1: events fall behind)');
  readonly rpcs = new Counter({ name: 'cronplane_rpc_total', help: 'SchedulerService RPCs by method and status code', labelNames: ['method', 'code'], registers: [this.registry] });
  readonly rpcDuration = new Histogram({
    name: 'cronplane_rpc_duration_seconds',
    help: 'SchedulerService unary RPC latency, from the request to the answer, by method',
    labelNames: ['method'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  constructor() {
    // cronplane_process_resident_memory_bytes, cronplane_nodejs_eventloop_lag_seconds, ...
    collectDefaultMetrics({ register: this.registry, prefix: 'cronplane_' });
    // Series exist from the start at 0, so "no fires in the last hour" and increase() see a
    // flat zero instead of nothing (an absent series never fires an alert).
    for (const trigger of ['SCHEDULE', 'MANUAL', 'CATCHUP']) this.fires.inc({ trigger }, 0);
    for (const state of FINAL_STATES) this.executions.inc({ state }, 0);
  }

  observe(event: ExecutionEvent): void {
    const e = event.execution;
    if (e.state === 'RUNNING' && e.attempt === 1) {
      this.fires.inc({ trigger: e.trigger });
      const lag = executionLag(e);
      if (lag !== undefined) this.lateness.observe(Math.max(0, lag) / 1000);
    }
    if (isFinalState(e.state)) {
      this.executions.inc({ state: e.state });
      if (e.startTime !== undefined && e.endTime !== undefined) this.attemptDuration.observe((e.endTime - e.startTime) / 1000);
      for (const attempt of e.attempts) {
        if (attempt.endTime !== undefined) this.attempts.observe({ state: attempt.state }, Math.max(0, attempt.endTime - attempt.startTime) / 1000);
      }
    }
  }

  /** The gRPC layer's RpcObserver: one count per call, and the latency of unary calls. */
  rpcDone(method: string, code: string, seconds: number | undefined): void {
    // Label-bound children, kept per (method, code): prom-client otherwise hashes the label
    // object on every call. Both sets are bounded by the service's methods and status codes.
    const key = `${method} ${code}`;
    let count = this.rpcCounts.get(key);
    if (count === undefined) {
      count = this.rpcs.labels({ method, code });
      this.rpcCounts.set(key, count);
    }
    count.inc();
    if (seconds === undefined) return;
    let duration = this.rpcDurations.get(method);
    if (duration === undefined) {
      duration = this.rpcDuration.labels({ method });
      this.rpcDurations.set(method, duration);
    }
    duration.observe(seconds);
  }

  private readonly rpcCounts = new Map<string, { inc(): void }>();
  private readonly rpcDurations = new Map<string, { observe(value: number): void }>();

  /** The store's writer thread's busy seconds so far (counted up to it; nothing without such a thread). */
  setStoreWriterBusy(seconds: number | undefined): void {
    this.storeWriterBusy.countUpTo(seconds);
  }

  /** The events publisher thread's busy seconds so far (nothing without such a thread). */
  setPublisherBusy(seconds: number | undefined): void {
    this.publisherBusy.countUpTo(seconds);
  }

  /** Tasks by state; undefined (too many to count cheaply) removes the series rather than lie. */
  setTaskCounts(counts: { ENABLED: number; PAUSED: number } | undefined): void {
    if (counts === undefined) {
      this.tasks.reset();
      return;
    }
    this.tasks.set({ state: 'ENABLED' }, counts.ENABLED);
    this.tasks.set({ state: 'PAUSED' }, counts.PAUSED);
  }
}

/** A thread's busy seconds as a counter, read from the thread's own total at scrape time. */
class ThreadBusy {
  private readonly counter: Counter;
  private seen = 0;

  constructor(registry: Registry, name: string, help: string) {
    this.counter = new Counter({ name, help, registers: [registry] });
  }

  countUpTo(seconds: number | undefined): void {
    if (seconds === undefined || seconds <= this.seen) return;
    this.counter.inc(seconds - this.seen);
    this.seen = seconds;
  }
}
