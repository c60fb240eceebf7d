import { ConfigError, loadConfig } from '../config/config.js';
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
  if (!isLoopbackAddress(config.grpcAddr) && !config.insecure) {
    process.stderr.write(
      `cronplane serve: refusing to listen on ${config.grpcAddr} without authentication; ` +
        'configure CRONPLANE_JWT_* or set CRONPLANE_INSECURE=1 if this is meant\n',
    );
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
