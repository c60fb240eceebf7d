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
import { startGrpcServer } from './grpc/grpc-server.js';
import { logExecutionEvent } from './observability/execution-log.js';
import { startHttpEndpoint } from './observability/http-endpoint.js';
import { createLogger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
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


/** The one place that wires config -> store -> engine -> transports. */
export async function startService(config: Config, options: { clock?: Clock; log?: Logger } = {}): Promise<Service> {
  const clock = options.clock ?? systemClock;
  const log = options.log ?? createLogger(config.logLevel, config.nodeName);
  log.info({ config: redactConfig(config) }, 'cronplane starting');

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
    actions: new ActionDispatcher(natsConnectionSource(() => nats.current())),
    onEvent: (event) => {
      logExecutionEvent(log, event);
      metrics.observe(event);
      hub.publish(event);
      publisher.kick();
    },
    onError: (err, context) => log.error({ err, context }, 'engine error'),
  });
  const api = new ControlPlane({ store, engine, clock, watch: (q, signal) => hub.watch(q, signal), maxTasks: config.maxTasks });

  nats.start();
  publisher.start();
  const started = await engine.start();
  log.info({ tasks: started.tasks, lost: started.lost }, 'engine started');

  const grpc = await startGrpcServer({ address: config.grpcAddr, api, log });
  const http = await startHttpEndpoint({
    address: config.httpAddr,
    registry: metrics.registry,
    ready: () => engine.isRunning,
    beforeScrape: async () => {
      metrics.outboxDepth.set(await store.outboxSize());
      metrics.natsConnected.set(nats.isConnected() ? 1 : 0);
    },
  });
  log.info({ grpc: `${config.grpcAddr.replace(/:\d+$/, '')}:${grpc.port}`, http: http.port }, 'cronplane serving');

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
