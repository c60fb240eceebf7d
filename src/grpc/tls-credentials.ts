import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';

/** Where the server's certificate, key and (for mTLS) the client CA live. */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** Set: every client must present a certificate signed by this CA (mTLS). */
  clientCaFile?: string;
}

/**
 * Server credentials from PEM files: TLS, and with a client CA, mTLS that refuses a client
 * without a valid certificate during the handshake, before any RPC (or token) is looked at.
 */
export function serverCredentialsFromFiles(tls: TlsFiles): grpc.ServerCredentials {
  const ca = tls.clientCaFile === undefined ? null : readFileSync(tls.clientCaFile);
  return grpc.ServerCredentials.createSsl(
    ca,
    [{ cert_chain: readFileSync(tls.certFile), private_key: readFileSync(tls.keyFile) }],
    ca !== null,
  );
}
