import type { Logger } from 'pino';
import { isUnexpectedError, toGrpcError, type GrpcError } from './error-mapping.js';

/**
 * Turns a handler's failure into the status to send, logging it on the way: unexpected errors
 * at error level with the real error (the client only sees "internal error"), client mistakes
 * at debug.
 */
export function reportRpcError(log: Logger, method: string, requestId: string, err: unknown): GrpcError {
  const status = toGrpcError(err);
  if (isUnexpectedError(err)) {
    log.error({ err, method, requestId }, 'rpc failed with an unexpected error');
  } else {
    log.debug({ method, requestId, code: status.code, details: status.details }, 'rpc refused');
  }
  return status;
}
