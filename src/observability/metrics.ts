import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { executionLag, isFinalState, type ExecutionEvent } from '../domain/execution.js';

/** The service's Prometheus metrics, all prefixed cronplane_, in a registry of their own (no globals). */
export class Metrics {
  readonly registry = new Registry();
  readonly fires = new Counter({ name: 'cronplane_fires_total', help: 'Executions started (first attempt), by trigger', labelNames: ['trigger'], registers: [this.registry] });
  readonly lateness = new Histogram({
    name: 'cronplane_fire_lateness_seconds',
    help: 'Start of the first attempt minus the scheduled time',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly executions = new Counter({ name: 'cronplane_executions_total', help: 'Executions that reached a final state, by state', labelNames: ['state'], registers: [this.registry] });
  readonly attemptDuration = new Histogram({
    name: 'cronplane_execution_duration_seconds',
    help: 'From first attempt start to final state',
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800],
    registers: [this.registry],
  });
  readonly outboxDepth = new Gauge({ name: 'cronplane_outbox_events', help: 'Events waiting to be published to NATS', registers: [this.registry] });
  readonly natsConnected = new Gauge({ name: 'cronplane_nats_connected', help: '1 while connected to NATS', registers: [this.registry] });
  readonly tasks = new Gauge({ name: 'cronplane_tasks', help: 'Tasks by state', labelNames: ['state'], registers: [this.registry] });
  readonly rpcs = new Counter({ name: 'cronplane_rpc_total', help: 'RPCs by method and status code', labelNames: ['method', 'code'], registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'cronplane_process_' });
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
    }
  }
}
