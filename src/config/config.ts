import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { parseDuration } from './duration.js';

/** Everything `cronplane serve` needs, validated; secrets are redacted by `redactConfig`. */
export interface Config {
  grpcAddr: string;
  httpAddr: string;
  store: { kind: 'sqlite'; path: string } | { kind: 'jetstream' };
  nats: { servers: string[]; user?: string; password?: string; token?: string; credsFile?: string };
  subjectPrefix: string;
  nodeName: string;
  logLevel: string;
  shutdownGraceMs: number;
  historyPerTask: number;
  maxTasks: number;
  insecure: boolean;
}

/** A configuration problem; `serve` prints it and exits non-zero. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** flag name -> environment variable (without the CRONPLANE_ prefix) */
const OPTIONS = {
  'grpc-addr': 'GRPC_ADDR',
  'http-addr': 'HTTP_ADDR',
  store: 'STORE',
  'nats-url': 'NATS_URL',
  'nats-user': 'NATS_USER',
  'nats-password': 'NATS_PASSWORD',
  'nats-token': 'NATS_TOKEN',
  'nats-creds': 'NATS_CREDS',
  'subject-prefix': 'SUBJECT_PREFIX',
  'node-name': 'NODE_NAME',
  'log-level': 'LOG_LEVEL',
  'shutdown-grace': 'SHUTDOWN_GRACE',
  'history-per-task': 'HISTORY_PER_TASK',
  'max-tasks': 'MAX_TASKS',
  insecure: 'INSECURE',
} as const;

type OptionName = keyof typeof OPTIONS;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Build the config from flags (which win) and CRONPLANE_* variables, with laptop-friendly defaults. */
export function loadConfig(argv: string[], env: NodeJS.ProcessEnv): Config {
  let values: Record<string, string | undefined>;
  try {
    const options = Object.fromEntries(Object.keys(OPTIONS).map((k) => [k, { type: 'string' as const }]));
    values = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as Record<string, string | undefined>;
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const get = (name: OptionName, def: string): string => values[name] ?? env[`CRONPLANE_${OPTIONS[name]}`] ?? def;
  const opt = (name: OptionName): string | undefined => {
    const v = values[name] ?? env[`CRONPLANE_${OPTIONS[name]}`];
    return v === undefined || v === '' ? undefined : v;
  };

  const grpcAddr = address('grpc-addr', get('grpc-addr', '127.0.0.1:50051'));
  const httpAddr = address('http-addr', get('http-addr', '127.0.0.1:9464'));
  const storeText = get('store', 'sqlite:./data/cronplane.db');
  let store: Config['store'];
  if (storeText === 'jetstream') store = { kind: 'jetstream' };
  else if (storeText.startsWith('sqlite:') && storeText.length > 'sqlite:'.length) store = { kind: 'sqlite', path: storeText.slice('sqlite:'.length) };
  else throw new ConfigError(`store: expected "sqlite:<path>" or "jetstream", got "${storeText}"`);
  if (store.kind === 'jetstream') throw new ConfigError('store: "jetstream" is not available yet; use sqlite:<path>');

  const servers = get('nats-url', 'nats://127.0.0.1:4222').split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (servers.length === 0) throw new ConfigError('nats-url: at least one server is required');

  const subjectPrefix = get('subject-prefix', 'cronplane');
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(subjectPrefix)) {
    throw new ConfigError(`subject-prefix: "${subjectPrefix}" is not a valid NATS subject prefix (tokens of A-Z a-z 0-9 _ - joined by dots)`);
  }
  const logLevel = get('log-level', 'info');
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(`log-level: expected one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  const graceText = get('shutdown-grace', '30s');
  const shutdownGraceMs = parseDuration(graceText);
  if (shutdownGraceMs === undefined) throw new ConfigError(`shutdown-grace: "${graceText}" is not a duration like 30s or 1m`);

  return {
    grpcAddr,
    httpAddr,
    store,
    nats: { servers, user: opt('nats-user'), password: opt('nats-password'), token: opt('nats-token'), credsFile: opt('nats-creds') },
    subjectPrefix,
    nodeName: get('node-name', hostname()),
    logLevel,
    shutdownGraceMs,
    historyPerTask: positiveInt('history-per-task', get('history-per-task', '1000')),
    maxTasks: positiveInt('max-tasks', get('max-tasks', '1000000')),
    insecure: ['1', 'true', 'yes'].includes(get('insecure', '').toLowerCase()),
  };
}

/** The config as it may be logged: secrets replaced. */
export function redactConfig(config: Config): Record<string, unknown> {
  const nats = { ...config.nats };
  if (nats.password !== undefined) nats.password = '[redacted]';
  if (nats.token !== undefined) nats.token = '[redacted]';
  return { ...config, nats };
}

function address(name: string, value: string): string {
  const m = /^(.*):(\d{1,5})$/.exec(value);
  if (m === null || Number(m[2]) > 65535) throw new ConfigError(`${name}: expected host:port, got "${value}"`);
  return value;
}

function positiveInt(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw new ConfigError(`${name}: expected a positive integer, got "${value}"`);
  return n;
}
