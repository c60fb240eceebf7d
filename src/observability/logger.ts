import { pino, type Logger } from 'pino';

/** One JSON object per line on stdout; secrets never reach it (redact paths below). */
export function createLogger(level: string, node: string): Logger {
  return pino({
    level,
    base: { service: 'cronplane', node },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['*.password', '*.token', '*.authorization', 'config.nats.password', 'config.nats.token', 'headers.authorization'],
      censor: '[redacted]',
    },
    formatters: { level: (label) => ({ level: label }) },
  });
}
