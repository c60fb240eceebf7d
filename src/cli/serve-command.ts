import { authenticationConfigured, ConfigError, loadConfig, type Config } from '../config/config.js';
import { isLoopbackAddress } from '../config/loopback.js';
import { startService } from '../main.js';

/** `cronplane serve`: run until SIGTERM/SIGINT, then stop gracefully and exit 0. */
export async function serveCommand(argv: string[]): Promise<number> {
  let config;
  try {
    config = loadConfig(argv, process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`cronplane serve: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const refusal = listenRefusal(config);
  if (refusal !== undefined) {
    process.stderr.write(`cronplane serve: ${refusal}\n`);
    return 2;
  }
  const service = await startService(config);
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      service.log.info({ signal }, 'signal received');
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      void service.stop().then(resolve, (err) => {
        service.log.error({ err }, 'shutdown failed');
        resolve();
      });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  return 0;
}

/**
 * Why `serve` must not start with this config, or undefined: listening beyond loopback lets
 * anyone on the network create tasks unless callers authenticate (a JWT key or mTLS), or the
 * operator says with CRONPLANE_INSECURE=1 that something else guards the port.
 */
export function listenRefusal(config: Config): string | undefined {
  if (isLoopbackAddress(config.grpcAddr) || authenticationConfigured(config) || config.insecure) return undefined;
  return (
    `refusing to listen on ${config.grpcAddr} without authentication: anyone who reaches the port could run tasks. ` +
    'Configure CRONPLANE_JWT_SECRET, CRONPLANE_JWT_PUBLIC_KEY_FILE or CRONPLANE_JWKS_FILE (or mTLS with ' +
    'CRONPLANE_TLS_CLIENT_CA_FILE), or set CRONPLANE_INSECURE=1 if the network is guarded otherwise'
  );
}
