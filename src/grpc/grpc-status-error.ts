import type * as grpc from '@grpc/grpc-js';

/**
 * A refusal decided by the transport itself (authentication, permission), not by the domain:
 * toGrpcError passes it through unchanged, so hooks such as `principalOf` can answer
 * UNAUTHENTICATED or PERMISSION_DENIED without a domain error class for each.
 */
export class GrpcStatusError extends Error {
  readonly code: grpc.status;
  readonly details: string;
  constructor(code: grpc.status, details: string, options?: { cause?: unknown }) {
    super(details, options);
    this.name = 'GrpcStatusError';
    this.code = code;
    this.details = details;
  }
}
