import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseDurationText } from './duration-text.js';
import { UsageError } from './errors.js';

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** Options every client command takes, before or after the subcommand. */
export const GLOBAL_OPTIONS = {
  server: { type: 'string' },
  token: { type: 'string' },
  tls: { type: 'boolean' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  'server-name': { type: 'string' },
  json: { type: 'boolean' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies OptionsConfig;

/** The usage text of the global options, shared by every command's help. */
export const GLOBAL_USAGE = `global options:
  --server HOST:PORT       the service (env CRONPLANE_SERVER, default 127.0.0.1:50051)
  --token TOKEN            bearer token (env CRONPLANE_TOKEN)
  --tls                    use TLS with the system's root certificates
  --ca FILE                use TLS, trusting this CA (PEM)
  --cert FILE --key FILE   client certificate and key for mutual TLS (PEM)
  --server-name NAME       the name the server's certificate must carry (when --server is an IP)
  --timeout DURATION       deadline of each call (default 30s)
  --json                   machine-readable output (protobuf JSON)
  -h, --help               this help
`;

type OptionValue<T> = T extends { type: 'boolean'; multiple: true }
  ? boolean[]
  : T extends { type: 'boolean' }
    ? boolean
    : T extends { multiple: true }
      ? string[]
      : string;

/** What a command's options parse into: its own plus the global ones, each possibly absent. */
export type ParsedValues<O extends OptionsConfig> = {
  [K in keyof (O & typeof GLOBAL_OPTIONS)]?: OptionValue<(O & typeof GLOBAL_OPTIONS)[K]> | undefined;
};

/**
 * Global options may come before the command (`cronplane --json tasks list`); they are moved
 * behind it so each command parses one argument list with node:util parseArgs.
 */
export function splitLeadingGlobals(argv: readonly string[]): { globals: string[]; rest: string[] } {
  const globals: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i]!;
    if (!arg.startsWith('-') || arg === '-' || arg === '--') break;
    const name = arg.startsWith('--') ? arg.slice(2).split('=')[0]! : arg.slice(1);
    const spec = (GLOBAL_OPTIONS as OptionsConfig)[name] ?? Object.values(GLOBAL_OPTIONS).find((o) => 'short' in o && o.short === name);
    if (spec === undefined) break;
    globals.push(arg);
    if (spec.type === 'string' && !arg.includes('=')) {
      if (i + 1 < argv.length) globals.push(argv[i + 1]!);
      i++;
    }
    i++;
  }
  return { globals, rest: argv.slice(i) };
}

/** node:util parseArgs with the global options added and its errors turned into usage errors. */
export function parseCommandArgs<const O extends OptionsConfig>(
  argv: readonly string[],
  options: O,
  usage: string,
): { values: ParsedValues<O>; positionals: string[] } {
  try {
    const parsed = parseArgs({ args: [...argv], options: { ...options, ...GLOBAL_OPTIONS }, allowPositionals: true, strict: true });
    return { values: parsed.values as ParsedValues<O>, positionals: parsed.positionals };
  } catch (err) {
    if (err instanceof TypeError && typeof (err as NodeJS.ErrnoException).code === 'string') {
      throw new UsageError(err.message.replace(/\. To specify a positional argument.*$/s, ''), usage);
    }
    throw err;
  }
}

/** Exactly the positionals a command expects, else a usage error naming what is missing or extra. */
export function expectPositionals(positionals: readonly string[], names: readonly string[], usage: string): string[] {
  if (positionals.length < names.length) throw new UsageError(`missing ${names.slice(positionals.length).join(' and ')}`, usage);
  if (positionals.length > names.length) {
    throw new UsageError(`unexpected argument "${positionals[names.length]}"${positionals[names.length]!.includes(' ') ? '' : ' (quote values that contain spaces)'}`, usage);
  }
  return [...positionals];
}

/** `k=v` of --label/--header/--selector; the key must be non-empty, the value may be. */
export function parseKeyValue(text: string, flag: string): [string, string] {
  const at = text.indexOf('=');
  if (at <= 0) throw new UsageError(`${flag} takes key=value, got "${text}"`);
  return [text.slice(0, at), text.slice(at + 1)];
}

/** Repeated `k=v` flags into one record; a repeated key is a mistake, not a silent override. */
export function parseKeyValues(texts: readonly string[] | undefined, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const text of texts ?? []) {
    const [k, v] = parseKeyValue(text, flag);
    if (Object.hasOwn(out, k)) throw new UsageError(`${flag} ${k} is given twice`);
    out[k] = v;
  }
  return out;
}

/** A whole number flag within bounds, with the flag named in the message. */
export function parseIntFlag(text: string, flag: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(text);
  if (!/^\s*-?\d+\s*$/.test(text) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`${flag} takes a whole number from ${min}${max === Number.MAX_SAFE_INTEGER ? '' : ` to ${max}`}, got "${text}"`);
  }
  return n;
}

/** A duration flag ("500ms", "30s", "5m", "1h30m") in milliseconds. */
export function parseDurationFlag(text: string, flag: string): number {
  const ms = parseDurationText(text);
  if (ms === undefined) throw new UsageError(`${flag} takes a duration such as 500ms, 30s, 5m or 1h30m, got "${text}"`);
  return ms;
}
