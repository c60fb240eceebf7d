import type { Logger } from 'pino';
import { ActionDispatcher } from './actions/action-dispatcher.js';
import { natsConnectionSource } from './actions/nats-connection-source.js';
import { redactConfig, type Config } from './config/config.js';
import { systemClock, type Clock } from './engine/clock.js';
import { ControlPlane } from './engine/control-plane.js';
import { Engine } from './engine/engine.js';
import type { EventsStreamSettings } from './events/events-stream.js';
import { NatsConnectionManager } from './events/nats-connection.js';
import { OutboxPublisher } from './events/outbox-publisher.js';
import { protoJsonEncoders } from './events/event-encoding.js';
import { WatchHub } from './events/watch-hub.js';
import { HttpAllowedTargets } from './config/http-allowed-targets.js';
import { startGrpcServer } from './grpc/grpc-server.js';
import { transportSecurity } from './grpc/transport-security.js';
import { logExecutionEvent } from './observability/execution-log.js';
import { startHttpEndpoint } from './observability/http-endpoint.js';
import { createLogger, relogLine } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { countTasksByState } from './observability/task-state-counts.js';
import { rendezvousPlacement } from './engine/placement.js';
import { JetStreamStore } from './store/jetstream/jetstream-store.js';
import { SqliteStore } from './store/sqlite/sqlite-store.js';
import type { Store } from './store/store.js';

/** A running service, as `serve` and the tests hold it. */
export interface Service {
  grpcPort: number;
  httpPort: number;
  log: Logger;
  engine: Engine;
  /** Graceful stop: no new RPCs, no new fires, running executions get the grace period, events flushed. */
  stop(): Promise<void>;
}

/** How long the start waits for the first NATS connection attempt before the engine fires anyway. */
const NATS_START_WAIT_MS = 2_000;
/** How long a stop waits for the outbox to reach NATS. */
const OUTBOX_DRAIN_MS = 5_000;

/** Where and how events are published, wherever the publisher runs. */
function eventsSettings(config: Config): { subjectPrefix: string; source: string; stream?: EventsStreamSettings } {
  return {
    subjectPrefix: config.subjectPrefix,
    source: `/cronplane/${config.nodeName}`,
    ...(config.events.stream === undefined ? {} : {
      stream: { name: config.events.stream, subjectPrefix: config.subjectPrefix, maxAgeMs: config.events.maxAgeMs, replicas: config.jetstreamReplicas },
    }),
  };
}

/** The store of the configured kind; the jetstream store needs NATS, so it waits for it. */
async function openStore(config: Config, nats: NatsConnectionManager, log: Logger): Promise<Store> {
  if (config.store.kind === 'sqlite') {
    const outboxLog = log.child({ component: 'outbox' });
    return SqliteStore.open(config.store.path, {
      historyPerTask: config.historyPerTask,
      outboxLimit: config.outboxLimit,
      onWriterError: (message) => log.error({ err: message }, 'sqlite store: the writer thread failed; writes fail until restart'),
      // Events go to NATS from a thread of their own, on a connection of its own (a file store).
      publishEvents: {
        ...eventsSettings(config),
        nats: { ...config.nats, name: `cronplane-${config.nodeName}-events` },
        logLevel: log.level,
        drainMs: OUTBOX_DRAIN_MS,
      },
      onPublisherLog: (line) => relogLine(outboxLog, line),
      onPublisherError: (message) => outboxLog.error({ err: message }, 'events publisher failed'),
    });
  }
  let nc = nats.current();
  for (let waited = 0; nc === undefined; waited += 500) {
    if (waited % 10_000 === 0) log.warn('jetstream store: waiting for NATS');
    await new Promise((r) => setTimeout(r, 500));
    nc = nats.current();
  }
  return JetStreamStore.open({
    nc,
    subjectPrefix: config.subjectPrefix,
    streamName: config.events.stream!,
    replicas: config.jetstreamReplicas,
    node: config.nodeName,
    historyPerTask: config.historyPerTask,
    eventMaxAgeMs: config.events.maxAgeMs,
    membershipTtlMs: config.membershipTtlMs,
    log: log.child({ component: 'jetstream-store' }),
  });
}

/** The one place that wires config -> store -> engine -> transports. */
export async function startService(config: Config, options: { clock?: Clock; log?: Logger } = {}): Promise<Service> {
  const clock = options.clock ?? systemClock;
  const log = options.log ?? createLogger(config.logLevel, config.nodeName);
  log.info({ config: redactConfig(config) }, 'cronplane starting');

  // Resolved before anything opens, so a bad key or certificate fails the start, not the first call.
  const security = transportSecurity(config, log);
  const httpTargets = config.httpAllowedTargets === undefined ? undefined : HttpAllowedTargets.parse(config.httpAllowedTargets.join(','));

  const metrics = new Metrics();
  const nats = new NatsConnectionManager({ ...config.nats, name: `cronplane-${config.nodeName}` }, log.child({ component: 'nats' }));
  nats.start();
  // Occurrences due right at start (catch-ups after a restart) would fail for want of NATS:
  // give the first connection attempt a moment. Without NATS the sqlite mode starts anyway.
  await nats.firstAttemptSettled(NATS_START_WAIT_MS);
  const store = await openStore(config, nats, log);
  const replicated = store instanceof JetStreamStore ? store : undefined;
  const hub = new WatchHub(store, config.watchBuffer);
  // With the jetstream store, publishing is the write: there is no outbox to drain. A file
  // store publishes its own from a thread; an in-memory one is published from here.
  const recording = replicated === undefined;
  const publisher = !recording || (store instanceof SqliteStore && store.publishesEvents) ? undefined : new OutboxPublisher({
    store,
    connection: () => nats.current(),
    encode: protoJsonEncoders,
    ...eventsSettings(config),
    log: log.child({ component: 'outbox' }),
    outboxLimit: config.outboxLimit,
  });
  if (publisher !== undefined) nats.onConnect(() => publisher.kick());

  const engine = new Engine({
    store,
    clock,
    node: config.nodeName,
    actions: new ActionDispatcher(natsConnectionSource(() => nats.current()), { http: { targets: httpTargets } }),
    onEvent: (event) => {
      logExecutionEvent(log, event);
      metrics.observe(event);
      if (recording) {
        hub.publish(event);
        publisher?.kick();
      }
    },
    onError: (err, context) => log.error({ err, context }, 'engine error'),
    ...(replicated === undefined ? {} : {
      placement: rendezvousPlacement(config.nodeName, () => replicated.membership.liveNodes(), config.takeoverDelayMs),
      isNodeAlive: (node: string) => replicated.membership.isAlive(node),
    }),
  });
  if (replicated !== undefined) {
    // Every replica's events, in stream order, reach this replica's watchers.
    replicated.watchExecutionEvents((event) => hub.publish(event));
    replicated.watchTasks((name, task) => engine.applyStoredTask(name, task));
    replicated.membership.onChange(() => {
      void engine.recoverDeadNodes().then(
        (lost) => { if (lost > 0) log.warn({ lost }, 'took over executions of a replica that stopped'); },
        (err) => log.error({ err }, 'takeover of a stopped replica failed'),
      );
    });
  }
  const api = new ControlPlane({
    store,
    engine,
    clock,
    watch: (q, signal) => hub.watch(q, signal),
    maxTasks: config.maxTasks,
    validateAction: httpTargets === undefined ? undefined : (action) => httpTargets.violations(action),
  });

  publisher?.start();
  const started = await engine.start();
  log.info({ tasks: started.tasks, lost: started.lost }, 'engine started');

  const grpc = await startGrpcServer({
    address: config.grpcAddr,
    api,
    log,
    credentials: security.credentials,
    principalOf: security.principalOf,
    observer: metrics,
  });
  const http = await startHttpEndpoint({
    address: config.httpAddr,
    registry: metrics.registry,
    ready: () => engine.isRunning && (store.healthy?.() ?? true),
    beforeScrape: async () => {
      metrics.outboxDepth.set(await store.outboxSize());
      metrics.outboxDropped.set(await store.droppedOutboxEvents());
      metrics.natsConnected.set(nats.isConnected() ? 1 : 0);
      metrics.setTaskCounts(await countTasksByState(store));
      metrics.setStoreWriterBusy(store.writerBusySeconds?.());
      metrics.setPublisherBusy(store.publisherBusySeconds?.());
    },
  });
  log.info({ grpc: `${config.grpcAddr.replace(/:\d+$/, '')}:${grpc.port}`, http: http.port, ...security.summary }, 'cronplane serving');

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      log.info({ graceMs: config.shutdownGraceMs }, 'shutting down');
      hub.closeAll();
      await grpc.shutdown(5_000);
      await engine.stop(config.shutdownGraceMs);
      await publisher?.stop(OUTBOX_DRAIN_MS);
      await store.close(); // a store that publishes drains its outbox first, as above
      await nats.close();
      await http.close();
      log.info('stopped');
    })();
    return stopping;
  };
  return { grpcPort: grpc.port, httpPort: http.port, log, engine, stop };
}
