import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { createSecureContext } from 'node:tls';
import { parseArgs } from 'node:util';
import { JwtSettingError, loadJwtKeys, type JwtSettings } from '../auth/jwt-keys.js';
import { parseDuration } from './duration.js';
import { HttpAllowedTargets } from './http-allowed-targets.js';

/** Everything `cronplane serve` needs, validated; secrets are redacted by `redactConfig`. */
export interface Config {
  grpcAddr: string;
  httpAddr: string;
  store: { kind: 'sqlite'; path: string } | { kind: 'jetstream' };
  nats: {
    servers: string[];
    user?: string;
    password?: string;
    token?: string;
    credsFile?: string;
    tls?: { caFile?: string; certFile?: string; keyFile?: string };
  };
  /**
   * Events through a JetStream stream: with the sqlite store only when a name is set (else
   * plain NATS publish), with the jetstream store always (the stream is the history).
   */
  events: { stream: string | undefined; maxAgeMs: number };
  /** Stream and bucket replicas (1 on one NATS server, 3 on a cluster). */
  jetstreamReplicas: number;
  /** Most events waiting for NATS in the outbox (sqlite store). */
  outboxLimit: number;
  /** Events a WatchExecutions client may fall behind before it is cut off. */
  watchBuffer: number;
  /** Replicas: a non-owner claims an occurrence this much later; a silent replica is dead after membershipTtlMs. */
  takeoverDelayMs: number;
  membershipTtlMs: number;
  subjectPrefix: string;
  nodeName: string;
  logLevel: string;
  shutdownGraceMs: number;
  historyPerTask: number;
  maxTasks: number;
  insecure: boolean;
  /** Bearer-token authentication; no key set = no authentication. */
  auth: JwtSettings;
  /** TLS for gRPC; with `clientCaFile`, clients must present a certificate signed by it (mTLS). */
  tls?: { certFile: string; keyFile: string; clientCaFile?: string };
  /** CRONPLANE_HTTP_ALLOWED_TARGETS entries (checked at load); undefined = every target allowed. */
  httpAllowedTargets?: string[];
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
  // The HS256 secret (CRONPLANE_JWT_SECRET) has no flag on purpose: flags show up in `ps`.
  'jwt-public-key-file': 'JWT_PUBLIC_KEY_FILE',
  'jwks-file': 'JWKS_FILE',
  'jwt-issuer': 'JWT_ISSUER',
  'jwt-audience': 'JWT_AUDIENCE',
  'tls-cert-file': 'TLS_CERT_FILE',
  'tls-key-file': 'TLS_KEY_FILE',
  'tls-client-ca-file': 'TLS_CLIENT_CA_FILE',
  'http-allowed-targets': 'HTTP_ALLOWED_TARGETS',
  'nats-tls-ca-file': 'NATS_TLS_CA_FILE',
  'nats-tls-cert-file': 'NATS_TLS_CERT_FILE',
  'nats-tls-key-file': 'NATS_TLS_KEY_FILE',
  'events-stream': 'EVENTS_STREAM',
  'events-max-age': 'EVENTS_MAX_AGE',
  'jetstream-replicas': 'JETSTREAM_REPLICAS',
  'outbox-limit': 'OUTBOX_LIMIT',
  'watch-buffer': 'WATCH_BUFFER',
  'takeover-delay': 'TAKEOVER_DELAY',
  'membership-ttl': 'MEMBERSHIP_TTL',
} as const;

type OptionName = keyof typeof OPTIONS;

/** Every CRONPLANE_* variable `serve` reads (deploy/cronplane.env.example documents each one). */
export const CONFIG_ENV_VARIABLES: readonly string[] = Object.freeze([
  ...Object.values(OPTIONS).map((name) => `CRONPLANE_${name}`),
  'CRONPLANE_JWT_SECRET',
]);

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

  const servers = get('nats-url', 'nats://127.0.0.1:4222').split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (servers.length === 0) throw new ConfigError('nats-url: at least one server is required');

  const subjectPrefix = get('subject-prefix', 'cronplane');
  if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(subjectPrefix)) {
    throw new ConfigError(`subject-prefix: "${subjectPrefix}" is not a valid NATS subject prefix (tokens of A-Z a-z 0-9 _ - joined by dots)`);
  }
  const logLevel = get('log-level', 'info');
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(`log-level: expected one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  const duration = (name: OptionName, def: string): number => {
    const text = get(name, def);
    const ms = parseDuration(text);
    if (ms === undefined) throw new ConfigError(`${name}: "${text}" is not a duration like 30s, 1m or 7d`);
    return ms;
  };
  const shutdownGraceMs = duration('shutdown-grace', '30s');
  const streamName = opt('events-stream') ?? (store.kind === 'jetstream' ? 'CRONPLANE_EVENTS' : undefined);
  if (streamName !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(streamName)) {
    throw new ConfigError(`events-stream: "${streamName}" is not a valid stream name (A-Z a-z 0-9 _ -, at most 64)`);
  }
  const events = { stream: streamName, maxAgeMs: duration('events-max-age', '7d') };
  const jetstreamReplicas = positiveInt('jetstream-replicas', get('jetstream-replicas', '1'));
  if (jetstreamReplicas > 5) throw new ConfigError(`jetstream-replicas: at most 5, got ${jetstreamReplicas}`);
  const takeoverDelayMs = duration('takeover-delay', '1500ms');
  const membershipTtlMs = duration('membership-ttl', '5s');
  if (membershipTtlMs < 1_000) throw new ConfigError('membership-ttl: at least 1s');
  const natsTlsFiles = { caFile: opt('nats-tls-ca-file'), certFile: opt('nats-tls-cert-file'), keyFile: opt('nats-tls-key-file') };
  if ((natsTlsFiles.certFile === undefined) !== (natsTlsFiles.keyFile === undefined)) {
    throw new ConfigError('nats-tls-cert-file / nats-tls-key-file: give both or neither');
  }
  const natsTls = Object.values(natsTlsFiles).some((v) => v !== undefined)
    ? Object.fromEntries(Object.entries(natsTlsFiles).filter(([, v]) => v !== undefined))
    : undefined;

  const secret = env['CRONPLANE_JWT_SECRET'];
  const audience = opt('jwt-audience')?.split(',').map((a) => a.trim()).filter((a) => a !== '');
  const auth: JwtSettings = {
    secret: secret === undefined || secret === '' ? undefined : secret,
    publicKeyFile: opt('jwt-public-key-file'),
    jwksFile: opt('jwks-file'),
    issuer: opt('jwt-issuer'),
    audience: audience === undefined || audience.length === 0 ? undefined : audience,
  };
  try {
    loadJwtKeys(auth);
  } catch (err) {
    if (err instanceof JwtSettingError) throw new ConfigError(`${err.setting}: ${err.message}`);
    throw err;
  }

  const tls = tlsSettings(opt('tls-cert-file'), opt('tls-key-file'), opt('tls-client-ca-file'));

  const targetsText = opt('http-allowed-targets');
  let httpAllowedTargets: string[] | undefined;
  if (targetsText !== undefined) {
    try {
      httpAllowedTargets = [...HttpAllowedTargets.parse(targetsText).entries];
    } catch (err) {
      throw new ConfigError(`http-allowed-targets: ${(err as Error).message}`);
    }
  }

  return {
    grpcAddr,
    httpAddr,
    store,
    nats: definedOnly({
      servers,
      user: opt('nats-user'),
      password: opt('nats-password'),
      token: opt('nats-token'),
      credsFile: opt('nats-creds'),
      tls: natsTls,
    }) as Config['nats'],
    events,
    jetstreamReplicas,
    outboxLimit: positiveInt('outbox-limit', get('outbox-limit', '1000000')),
    watchBuffer: positiveInt('watch-buffer', get('watch-buffer', '10000')),
    takeoverDelayMs,
    membershipTtlMs,
    subjectPrefix,
    nodeName: get('node-name', hostname()),
    logLevel,
    shutdownGraceMs,
    historyPerTask: positiveInt('history-per-task', get('history-per-task', '1000')),
    maxTasks: positiveInt('max-tasks', get('max-tasks', '1000000')),
    insecure: ['1', 'true', 'yes'].includes(get('insecure', '').toLowerCase()),
    auth,
    ...(tls === undefined ? {} : { tls }),
    ...(httpAllowedTargets === undefined ? {} : { httpAllowedTargets }),
  };
}

/** Whether callers must prove who they are: a bearer-token key, or client certificates (mTLS). */
export function authenticationConfigured(config: Config): boolean {
  return config.auth.secret !== undefined || config.auth.publicKeyFile !== undefined || config.auth.jwksFile !== undefined ||
    config.tls?.clientCaFile !== undefined;
}

/** Cert and key go together, a client CA needs them; all three must load into a TLS context now, not at bind. */
function tlsSettings(certFile: string | undefined, keyFile: string | undefined, clientCaFile: string | undefined): Config['tls'] {
  if (certFile === undefined && keyFile === undefined) {
    if (clientCaFile !== undefined) throw new ConfigError('tls-client-ca-file: mTLS needs CRONPLANE_TLS_CERT_FILE and CRONPLANE_TLS_KEY_FILE too');
    return undefined;
  }
  if (certFile === undefined) throw new ConfigError('tls-cert-file: required when CRONPLANE_TLS_KEY_FILE is set');
  if (keyFile === undefined) throw new ConfigError('tls-key-file: required when CRONPLANE_TLS_CERT_FILE is set');
  const read = (name: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new ConfigError(`${name}: cannot read "${path}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  const cert = read('tls-cert-file', certFile);
  const key = read('tls-key-file', keyFile);
  const ca = clientCaFile === undefined ? undefined : read('tls-client-ca-file', clientCaFile);
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new ConfigError(`tls-cert-file / tls-key-file: not a usable certificate and key pair: ${(err as Error).message}`);
  }
  if (ca !== undefined) {
    try {
      createSecureContext({ ca });
    } catch (err) {
      throw new ConfigError(`tls-client-ca-file: not a usable CA certificate: ${(err as Error).message}`);
    }
    if (!ca.toString('utf8').includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError(`tls-client-ca-file: "${clientCaFile}" holds no PEM certificate`);
  }
  return { certFile, keyFile, ...(clientCaFile === undefined ? {} : { clientCaFile }) };
}

/** The config as it may be logged: secrets replaced. */
export function redactConfig(config: Config): Record<string, unknown> {
  // A server URL may carry credentials (nats://user:password@host): drop its user info.
  const nats = { ...config.nats, servers: config.nats.servers.map((url) => url.replace(/^([a-z]+:\/\/)[^@/]*@/i, '$1[redacted]@')) };
  if (nats.password !== undefined) nats.password = '[redacted]';
  if (nats.token !== undefined) nats.token = '[redacted]';
  const auth = { ...config.auth };
  if (auth.secret !== undefined) auth.secret = '[redacted]';
  return { ...config, nats, auth };
}

/** Drop keys whose value is undefined, so a logged config shows only what is set. */
function definedOnly<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
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
