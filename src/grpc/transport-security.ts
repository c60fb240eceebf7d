import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { JwtAuthenticator } from '../auth/jwt-authenticator.js';
import { loadJwtKeys, type JwtSettings } from '../auth/jwt-keys.js';
import { isLoopbackAddress } from '../config/loopback.js';
import { clientCertificatePrincipalOf, jwtPrincipalOf } from './auth-hook.js';
import type { PrincipalOf } from './request-context.js';
import { serverCredentialsFromFiles, type TlsFiles } from './tls-credentials.js';

/** How the gRPC port is protected: what startGrpcServer takes as `credentials` and `principalOf`. */
export interface TransportSecurity {
  credentials: grpc.ServerCredentials;
  principalOf?: PrincipalOf;
  /** For the start log: "tls", "mtls" or "plaintext"; "jwt", "client-certificate" or "none". */
  summary: { transport: 'plaintext' | 'tls' | 'mtls'; authentication: 'jwt' | 'client-certificate' | 'none' };
}

/**
 * TLS / mTLS credentials and the auth hook from the settings: a JWT key means every
 * SchedulerService call needs a bearer token (the principal is its `sub`); mTLS without a JWT
 * key makes the client certificate's CN the principal. Warns when tokens would cross the
 * network in clear text.
 */
export function transportSecurity(settings: { grpcAddr: string; auth: JwtSettings; tls?: TlsFiles }, log: Logger): TransportSecurity {
  const credentials = settings.tls === undefined ? grpc.ServerCredentials.createInsecure() : serverCredentialsFromFiles(settings.tls);
  const transport = settings.tls === undefined ? 'plaintext' : settings.tls.clientCaFile === undefined ? 'tls' : 'mtls';
  const keys = loadJwtKeys(settings.auth);
  if (keys !== undefined) {
    if (transport === 'plaintext' && !isLoopbackAddress(settings.grpcAddr)) {
      log.warn({ grpcAddr: settings.grpcAddr }, 'bearer tokens will cross the network in clear text: set CRONPLANE_TLS_CERT_FILE and _KEY_FILE (or terminate TLS in front)');
    }
    return { credentials, principalOf: jwtPrincipalOf(new JwtAuthenticator(keys, settings.auth)), summary: { transport, authentication: 'jwt' } };
  }
  if (transport === 'mtls') return { credentials, principalOf: clientCertificatePrincipalOf(), summary: { transport, authentication: 'client-certificate' } };
  return { credentials, summary: { transport, authentication: 'none' } };
}
