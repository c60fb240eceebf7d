import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { createSchedulerClient, type CallOptions, type SchedulerClient } from '../client/scheduler-client.js';
import { isLoopbackAddress } from '../config/loopback.js';
import { SchedulerService } from '../gen/cronplane/v1/scheduler_service_pb.js';
import { parseDurationFlag } from './args.js';
import { UsageError } from './errors.js';

/** Where the service is when nothing says otherwise: what `cronplane serve` listens on. */
export const DEFAULT_SERVER = '127.0.0.1:50051';
const DEFAULT_TIMEOUT_MS = 30_000;

/** The global options that say how to reach the service. */
export interface ConnectionFlags {
  server?: string | undefined;
  token?: string | undefined;
  tls?: boolean | undefined;
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  'server-name'?: string | undefined;
  timeout?: string | undefined;
}

/** Resolved connection settings: flags win over CRONPLANE_SERVER / CRONPLANE_TOKEN. */
export interface ConnectionSettings {
  server: string;
  token: string | undefined;
  tls: boolean;
  credentials: grpc.ChannelCredentials;
  /** The name the server's certificate must carry, when it differs from the --server host. */
  serverName: string | undefined;
  timeoutMs: number;
}

function readPem(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(`${flag} ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
}

/** Flags and environment into settings; TLS files are read here so a typo fails before any call. */
export function resolveConnection(flags: ConnectionFlags, env: NodeJS.ProcessEnv): ConnectionSettings {
  const server = flags.server ?? (env['CRONPLANE_SERVER'] || DEFAULT_SERVER);
  const token = flags.token ?? (env['CRONPLANE_TOKEN'] || undefined);
  if ((flags.cert === undefined) !== (flags.key === undefined)) throw new UsageError('--cert and --key go together (mutual TLS)');
  const serverName = flags['server-name'];
  const tls = flags.tls === true || flags.ca !== undefined || flags.cert !== undefined || serverName !== undefined;
  const credentials = tls
    ? grpc.credentials.createSsl(
        flags.ca === undefined ? null : readPem(flags.ca, '--ca'),
        flags.key === undefined ? null : readPem(flags.key, '--key'),
        flags.cert === undefined ? null : readPem(flags.cert, '--cert'),
      )
    : grpc.credentials.createInsecure();
  const timeoutMs = flags.timeout === undefined ? DEFAULT_TIMEOUT_MS : parseDurationFlag(flags.timeout, '--timeout');
  return { server, token, tls, credentials, serverName, timeoutMs };
}

/** A bearer token in clear text beyond this machine is worth a warning, not a refusal. */
export function plaintextTokenWarning(settings: ConnectionSettings): string | undefined {
  if (settings.token === undefined || settings.tls || isLoopbackAddress(settings.server)) return undefined;
  return `warning: sending the token to ${settings.server} without TLS (use --tls or --ca)\n`;
}

/**
 * The typed client with a deadline on every unary call, so an unreachable or stuck service ends
 * the command instead of hanging it. Streams (watch) have no deadline: they run until stopped.
 */
export function openClient(settings: ConnectionSettings): SchedulerClient {
  const client = createSchedulerClient(settings.server, {
    credentials: settings.credentials,
    ...(settings.token === undefined ? {} : { token: settings.token }),
    ...(settings.serverName === undefined ? {} : { channelOptions: { 'grpc.ssl_target_name_override': settings.serverName } }),
  });
  const wrapped: Record<string, unknown> = {
    watchExecutions: client.watchExecutions.bind(client),
    close: client.close.bind(client),
  };
  for (const method of SchedulerService.methods) {
    if (method.methodKind !== 'unary') continue;
    const call = (client as unknown as Record<string, (req: unknown, opts?: CallOptions) => Promise<unknown>>)[method.localName]!.bind(client);
    wrapped[method.localName] = (request: unknown, options?: CallOptions) => call(request, { timeoutMs: settings.timeoutMs, ...options });
  }
  return wrapped as unknown as SchedulerClient;
}
