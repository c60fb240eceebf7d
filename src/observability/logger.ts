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

/**
 * Log a line that another thread's pino wrote (the store's publisher thread) through `log`,
 * so it gets this logger's bindings, time, level format and redaction like any other line.
 */
export function relogLine(log: Logger, line: string): void {
  let fields: Record<string, unknown>;
  try {
    fields = JSON.parse(line) as Record<string, unknown>;
  } catch {
    log.warn({ line }, 'unreadable log line from a worker thread');
    return;
  }
  const { level, msg, ...rest } = fields;
  const label = typeof level === 'number' ? log.levels.labels[level] : undefined;
  const method = label === 'fatal' || label === 'error' || label === 'warn' || label === 'info' || label === 'debug' || label === 'trace' ? label : 'info';
  log[method](rest, typeof msg === 'string' ? msg : '');
}
