import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { RequestContext } from '../engine/scheduler-api.js';

/** Metadata key that carries the request id in both directions. */
export const REQUEST_ID_KEY = 'x-request-id';

/** Ids a client may choose: printable ASCII, bounded, so they are safe in logs and headers. */
const CLIENT_REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

/** The call shapes handlers see; enough for hooks to read metadata, peer and TLS identity. */
export type GrpcServerCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>;

/** What the transport needs from its host: where to log and, later, who the caller is. */
export interface SchedulerHandlerHooks {
  log: Logger;
  /**
   * The authenticated subject of a call; the auth seam. Default: '' (no authentication). May
   * throw GrpcStatusError(UNAUTHENTICATED / PERMISSION_DENIED) to refuse the call.
   */
  principalOf?: (call: GrpcServerCall) => string | Promise<string>;
  /** Aborted when the server shuts down: open WatchExecutions streams end with UNAVAILABLE. */
  shutdownSignal?: AbortSignal;
}

/**
 * Every call gets an id for log correlation: the client's `x-request-id` (or, failing that, a
 * request_id from the body), else a fresh UUID. It is echoed in the response headers so a
 * client can quote it when reporting a problem.
 */
export function acceptRequestId(call: GrpcServerCall, bodyRequestId = ''): string {
  const fromHeader = call.metadata.get(REQUEST_ID_KEY)[0];
  const candidate = typeof fromHeader === 'string' && fromHeader !== '' ? fromHeader : bodyRequestId;
  const requestId = CLIENT_REQUEST_ID.test(candidate) ? candidate : randomUUID();
  const headers = new grpc.Metadata();
  headers.set(REQUEST_ID_KEY, requestId);
  call.sendMetadata(headers);
  return requestId;
}

/** The RequestContext the api wants, with the principal from the auth hook. */
export async function requestContextOf(
  call: GrpcServerCall,
  requestId: string,
  hooks: SchedulerHandlerHooks,
): Promise<RequestContext> {
  const principal = hooks.principalOf === undefined ? '' : await hooks.principalOf(call);
  return { requestId, principal };
}
