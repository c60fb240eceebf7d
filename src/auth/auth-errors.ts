/**
 * Why a caller was refused. src/grpc/error-mapping.ts (the one error -> status place) turns these
 * into UNAUTHENTICATED and PERMISSION_DENIED; their messages are safe to show the caller.
 */

/** No credentials, or credentials that do not verify (gRPC UNAUTHENTICATED). */
export class UnauthenticatedError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UnauthenticatedError';
  }
}

/** A verified caller without the scope the call needs (gRPC PERMISSION_DENIED). */
export class PermissionDeniedError extends Error {
  /** `principal`: who was refused (verified), for the audit line. */
  constructor(message: string, readonly principal?: string) {
    super(message);
    this.name = 'PermissionDeniedError';
  }
}
