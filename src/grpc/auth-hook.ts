import type * as grpc from '@grpc/grpc-js';
import { SCOPES, scopesAllow } from '../auth/access.js';
import { PermissionDeniedError, UnauthenticatedError } from '../auth/auth-errors.js';
import type { Principal } from '../auth/jwt-authenticator.js';
import type { GrpcServerCall, PrincipalOf } from './request-context.js';

/** Verifies a bearer token (JwtAuthenticator in production, anything in tests). */
export interface TokenVerifier {
  verify(token: string): Promise<Principal>;
}

/** The token of `authorization: Bearer <token>`; anything else there (or nothing) is UNAUTHENTICATED. */
export function bearerTokenOf(metadata: grpc.Metadata): string {
  const values = metadata.get('authorization');
  if (values.length === 0) throw new UnauthenticatedError('missing bearer token: send "authorization: Bearer <JWT>"');
  if (values.length > 1) throw new UnauthenticatedError('more than one authorization header');
  const value = values[0];
  if (typeof value !== 'string') throw new UnauthenticatedError('authorization must be "Bearer <JWT>"');
  const match = /^Bearer[ ]+([^\s]+)\s*$/i.exec(value);
  if (match === null) throw new UnauthenticatedError('authorization must be "Bearer <JWT>"');
  return match[1]!;
}

/**
 * The auth hook for bearer JWTs: a verified token whose scopes allow the call's access
 * (`cronplane.read` to look, `cronplane.write` to change; write implies read). The principal
 * is the token's `sub`. Installed on SchedulerService only: health and reflection need no token.
 */
export function jwtPrincipalOf(verifier: TokenVerifier): PrincipalOf {
  return async (call: GrpcServerCall, access) => {
    const principal = await verifier.verify(bearerTokenOf(call.metadata));
    if (!scopesAllow(principal.scopes, access)) {
      const needs = access === 'read' ? `${SCOPES.read} (or ${SCOPES.write})` : SCOPES.write;
      throw new PermissionDeniedError(`this call needs the ${needs} scope`, principal.subject);
    }
    return principal.subject;
  };
}

/**
 * Under mTLS without tokens, TLS already refused clients without a certificate from the client
 * CA; the principal is the certificate's subject CN (created_by, logs), every call allowed.
 */
export function clientCertificatePrincipalOf(): PrincipalOf {
  return (call: GrpcServerCall) => {
    const subject = call.getAuthContext().sslPeerCertificate?.subject;
    const cn = subject?.CN;
    const name = Array.isArray(cn) ? cn[0] : cn;
    if (typeof name !== 'string' || name === '') throw new UnauthenticatedError('client certificate has no subject CN');
    return name;
  };
}
