import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Access } from '../auth/access.js';
import type { RequestContext } from '../engine/scheduler-api.js';

/** Metadata key that carries the request id in both directions. */
export const REQUEST_ID_KEY = 'x-request-id';

/** Ids a client may choose: printable ASCII, bounded, so they are safe in logs and headers. */
const CLIENT_REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

/** The call shapes handlers see; enough for hooks to read metadata, peer and TLS identity. */
export type GrpcServerCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>;

/**
 * The auth seam: the authenticated subject of a call that needs `access`. May throw
 * UnauthenticatedError / PermissionDeniedError (src/auth) or GrpcStatusError to refuse it.
 */
export type PrincipalOf = (call: GrpcServerCall, access: Access) => string | Promise<string>;

/** Told how every SchedulerService call ended (metrics); `seconds` is undefined for streams. */
export interface RpcObserver {
  rpcDone(method: string, code: string, seconds: number | undefined): void;
}

/** What the transport needs from its host: where to log, who the caller is, who counts calls. */
export interface SchedulerHandlerHooks {
  log: Logger;
  /** Default: '' for everyone (no authentication). */
  principalOf?: PrincipalOf;
  /** Aborted when the server shuts down: open WatchExecutions streams end with UNAVAILABLE. */
  shutdownSignal?: AbortSignal;
  observer?: RpcObserver;
}

/**
 * Every call gets an id for log correlation: the client's `x-request-id` (or, failing that, a
 * request_id from the body), else a fresh UUID. It is echoed in the response headers so a
 * client can quote it when reporting a problem.
 */
export function acceptRequestId(call: GrpcServerCall, bodyRequestId = ''): string {
  const requestId = chooseRequestId(call, bodyRequestId);
  sendRequestId(call, requestId);
  return requestId;
}

/** The request id acceptRequestId would choose, without sending it yet. */
export function chooseRequestId(call: GrpcServerCall, bodyRequestId = ''): string {
  const fromHeader = call.metadata.get(REQUEST_ID_KEY)[0];
  const candidate = typeof fromHeader === 'string' && fromHeader !== '' ? fromHeader : bodyRequestId;
  return CLIENT_REQUEST_ID.test(candidate) ? candidate : randomUUID();
}

/**
 * Sends the response headers with the request id. A unary call sends them together with its
 * answer (one write, as grpc-js does with its default headers), a stream at its start.
 */
export function sendRequestId(call: GrpcServerCall, requestId: string): void {
  const headers = new grpc.Metadata();
  headers.set(REQUEST_ID_KEY, requestId);
  call.sendMetadata(headers);
}

/** The RequestContext the api wants, with the principal from the auth hook (which may refuse the call). */
export async function requestContextOf(
  call: GrpcServerCall,
  requestId: string,
  hooks: SchedulerHandlerHooks,
  access: Access,
): Promise<RequestContext> {
  const principal = hooks.principalOf === undefined ? '' : await hooks.principalOf(call, access);
  return { requestId, principal };
}
