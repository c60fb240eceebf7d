import * as grpc from '@grpc/grpc-js';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import { ReflectionService } from '@grpc/reflection';
import type { Logger } from 'pino';
import type { SchedulerApi } from '../engine/scheduler-api.js';
import { SchedulerService, file_cronplane_v1_scheduler_service } from '../gen/cronplane/v1/scheduler_service_pb.js';
import { file_google_rpc_error_details } from '../gen/google/rpc/error_details_pb.js';
import { file_google_rpc_status } from '../gen/google/rpc/status_pb.js';
import { file_google_rpc_code } from '../gen/google/rpc/code_pb.js';
import { reflectionPackageDefinition } from './reflection-descriptors.js';
import { createSchedulerHandlers } from './scheduler-handlers.js';
import type { SchedulerHandlerHooks } from './request-context.js';
import { toGrpcServiceDefinition } from './service-definition.js';

const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/** Services whose health the server reports: '' is the whole server. */
const HEALTH_SERVICES = ['', SchedulerService.typeName] as const;

/** Keepalive and size limits: dead peers and half-open connections are found, memory stays bounded. */
const SERVER_OPTIONS: grpc.ServerOptions = {
  // Ping every connection after 30 s without activity; drop it when no ack comes in 10 s.
  'grpc.keepalive_time_ms': 30_000,
  'grpc.keepalive_timeout_ms': 10_000,
  // A client-side option in C-core; grpc-js servers already accept pings without calls. Kept
  // so the intent is written down and a future grpc-js that enforces ping policy honours it.
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
};

export interface StartGrpcServerOptions {
  /** host:port; port 0 picks a free port (tests: "127.0.0.1:0"). ":port" listens on every interface. */
  address: string;
  api: SchedulerApi;
  log: Logger;
  /** Default: insecure (plain HTTP/2), for loopback. */
  credentials?: grpc.ServerCredentials;
  /** The auth seam, on SchedulerService only (health and reflection stay open); see PrincipalOf. */
  principalOf?: SchedulerHandlerHooks['principalOf'];
  /** Told how every SchedulerService call ended (the RPC metrics). */
  observer?: SchedulerHandlerHooks['observer'];
}

export interface RunningGrpcServer {
  server: grpc.Server;
  /** The bound port (the real one when the address asked for 0). */
  port: number;
  /** The health service; prefer setServingStatus, which keeps '' and the service name in step. */
  health: HealthImplementation;
  /** Sets every reported service ('' and cronplane.v1.SchedulerService) at once. */
  setServingStatus(status: ServingStatus): void;
  /**
   * NOT_SERVING first (load balancers stop sending), open watches end with UNAVAILABLE, then
   * in-flight calls get up to `graceMs` before the rest are cancelled.
   */
  shutdown(graceMs: number): Promise<void>;
}

/** ":50051" means every interface, as in Go and Node's net; grpc-js itself cannot resolve an empty host. */
function bindAddress(address: string): string {
  return address.startsWith(':') ? `0.0.0.0${address}` : address;
}

function bind(server: grpc.Server, address: string, credentials: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (err, port) => (err ? reject(err) : resolve(port)));
  });
}

/**
 * The gRPC front door: SchedulerService, health checking and server reflection on one
 * server, bound and serving when the promise resolves.
 */
export async function startGrpcServer(options: StartGrpcServerOptions): Promise<RunningGrpcServer> {
  const { api, log } = options;
  const shutdownController = new AbortController();
  const server = new grpc.Server(SERVER_OPTIONS);

  const hooks: SchedulerHandlerHooks = { log, shutdownSignal: shutdownController.signal };
  if (options.principalOf !== undefined) hooks.principalOf = options.principalOf;
  if (options.observer !== undefined) hooks.observer = options.observer;
  server.addService(toGrpcServiceDefinition(SchedulerService), createSchedulerHandlers(api, hooks));

  const health = new HealthImplementation(Object.fromEntries(HEALTH_SERVICES.map((s) => [s, 'NOT_SERVING' as const])));
  health.addToServer(server);
  const setServingStatus = (status: ServingStatus) => HEALTH_SERVICES.forEach((s) => health.setStatus(s, status));

  const reflection = new ReflectionService(
    reflectionPackageDefinition([
      file_cronplane_v1_scheduler_service,
      file_google_rpc_status,
      file_google_rpc_error_details,
      file_google_rpc_code,
    ]),
  );
  reflection.addToServer(server);

  const port = await bind(server, bindAddress(options.address), options.credentials ?? grpc.ServerCredentials.createInsecure());
  setServingStatus('SERVING');
  log.info({ address: options.address, port }, 'gRPC server listening');

  let stopping: Promise<void> | undefined;
  const shutdown = (graceMs: number): Promise<void> => {
    stopping ??= new Promise<void>((resolve) => {
      setServingStatus('NOT_SERVING');
      shutdownController.abort();
      const timer = setTimeout(() => {
        log.warn({ graceMs }, 'gRPC calls still running after the grace period; cancelling them');
        server.forceShutdown();
        resolve();
      }, graceMs);
      timer.unref();
      server.tryShutdown((err) => {
        clearTimeout(timer);
        if (err) {
          log.warn({ err }, 'gRPC graceful shutdown failed; forcing');
          server.forceShutdown();
        }
        resolve();
      });
    });
    return stopping;
  };

  return { server, port, health, setServingStatus, shutdown };
}
