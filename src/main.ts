import type { Logger } from 'pino';
import { ActionDispatcher } from './actions/action-dispatcher.js';
import { natsConnectionSource } from './actions/nats-connection-source.js';
import { redactConfig, type Config } from './config/config.js';
import { systemClock, type Clock } from './engine/clock.js';
import { ControlPlane } from './engine/control-plane.js';
import { Engine } from './engine/engine.js';
import { NatsConnectionManager } from './events/nats-connection.js';
import { OutboxPublisher } from './events/outbox-publisher.js';
import { protoJsonEncoders } from './events/event-encoding.js';
import { WatchHub } from './events/watch-hub.js';
import { HttpAllowedTargets } from './config/http-allowed-targets.js';
import { startGrpcServer } from './grpc/grpc-server.js';
import { transportSecurity } from './grpc/transport-security.js';
import { logExecutionEvent } from './observability/execution-log.js';
import { startHttpEndpoint } from './observability/http-endpoint.js';
import { createLogger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { countTasksByState } from './observability/task-state-counts.js';
import { SqliteStore } from './store/sqlite/sqlite-store.js';

/** A running service, as `serve` and the tests hold it. */
export interface Service {
  grpcPort: number;
  httpPort: number;
  log: Logger;
  engine: Engine;
  /** Graceful stop: no new RPCs, no new fires, running executions get the grace period, events flushed. */
  stop(): Promise<void>;
}


/** How long the start waits for the first NATS connection before the engine fires anyway. */
const NATS_START_WAIT_MS = 2_000;

/** Resolves true once NATS is connected, false after `timeoutMs` without a connection. */
function firstConnection(nats: NatsConnectionManager, timeoutMs: number): Promise<boolean> {
  if (nats.isConnected()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    nats.onConnect(() => {
      clearTimeout(timer);
      resolve(true);
    });
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

  if (config.store.kind !== 'sqlite') throw new Error('only the sqlite store is available');
  const store = SqliteStore.open(config.store.path, { historyPerTask: config.historyPerTask });
  const metrics = new Metrics();

  const nats = new NatsConnectionManager({ ...config.nats, name: `cronplane-${config.nodeName}` }, log.child({ component: 'nats' }));
  const hub = new WatchHub(store);
  const publisher = new OutboxPublisher({
    store,
    connection: () => nats.current(),
    encode: protoJsonEncoders,
    subjectPrefix: config.subjectPrefix,
    source: `/cronplane/${config.nodeName}`,
    log: log.child({ component: 'outbox' }),
  });
  nats.onConnect(() => publisher.kick());

  const engine = new Engine({
    store,
    clock,
    node: config.nodeName,
    actions: new ActionDispatcher(natsConnectionSource(() => nats.current()), { http: { targets: httpTargets } }),
    onEvent: (event) => {
      logExecutionEvent(log, event);
      metrics.observe(event);
      hub.publish(event);
      publisher.kick();
    },
    onError: (err, context) => log.error({ err, context }, 'engine error'),
  });
  const api = new ControlPlane({
    store,
    engine,
    clock,
    watch: (q, signal) => hub.watch(q, signal),
    maxTasks: config.maxTasks,
    validateAction: httpTargets === undefined ? undefined : (action) => httpTargets.violations(action),
  });

  nats.start();
  publisher.start();
  // Occurrences due right at start (catch-ups after a restart) would fail for want of NATS:
  // give the first connection a moment. Without NATS the service starts anyway, after the wait.
  await firstConnection(nats, NATS_START_WAIT_MS);
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
    ready: () => engine.isRunning,
    beforeScrape: async () => {
      metrics.outboxDepth.set(await store.outboxSize());
      metrics.natsConnected.set(nats.isConnected() ? 1 : 0);
      metrics.setTaskCounts(await countTasksByState(store));
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
      await publisher.stop(5_000);
      await nats.close();
      await http.close();
      await store.close();
      log.info('stopped');
    })();
    return stopping;
  };
  return { grpcPort: grpc.port, httpPort: http.port, log, engine, stop };
}
