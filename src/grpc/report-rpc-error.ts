import type { Logger } from 'pino';
import { isUnexpectedError, toGrpcError, type GrpcError } from './error-mapping.js';

/** What every log line of a request carries, so one grep finds all of it. */
export interface RpcLogFields {
  method: string;
  requestId: string;
  /** The authenticated caller; undefined before (or without) authentication. */
  principal?: string | undefined;
}

/**
 * Turns a handler's failure into the status to send, logging it on the way: unexpected errors
 * at error level with the real error (the client only sees "internal error"), client mistakes
 * at debug.
 */
export function reportRpcError(log: Logger, fields: RpcLogFields, err: unknown): GrpcError {
  const status = toGrpcError(err);
  if (isUnexpectedError(err)) {
    log.error({ err, ...fields }, 'rpc failed with an unexpected error');
  } else {
    log.debug({ ...fields, code: status.code, details: status.details }, 'rpc refused');
  }
  return status;
}
