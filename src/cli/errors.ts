import * as grpc from '@grpc/grpc-js';
import { badRequestFromMetadata } from '../grpc/error-mapping.js';

/** The command line was wrong (unknown flag, missing argument, bad value): exit 2 with a hint. */
export class UsageError extends Error {
  /**
   * `usage` is shown with the message: only its first line (the synopsis), unless `fullUsage`
   * (for an unknown command, where the list of commands is the help).
   */
  constructor(message: string, readonly usage?: string, readonly fullUsage = false) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A task file cannot be used as it is (syntax, unknown field, bad value): bad input, exit 2. */
export class TaskFileError extends Error {
  constructor(readonly file: string, readonly problems: readonly string[], readonly unreadable = false) {
    super(`${file}: ${problems.join('; ')}`);
    this.name = 'TaskFileError';
  }
}

/** A failure while working on one named thing (a task of a file): says which, keeps the cause's meaning. */
export class ContextError extends Error {
  constructor(readonly context: string, override readonly cause: unknown) {
    super(`${context}: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'ContextError';
  }
}

/** Exit codes of the client commands: scripts tell "fix your input" from "try again later". */
export const EXIT_OK = 0;
/** Anything that is not the caller's input: not found, unavailable, a conflict. Retrying may help. */
export const EXIT_FAILURE = 1;
/** Usage errors, bad task files and INVALID_ARGUMENT: the same command will fail the same way. */
export const EXIT_BAD_INPUT = 2;

/** True for what grpc-js rejects calls with (a status code, details and trailers). */
export function isServiceError(err: unknown): err is grpc.ServiceError {
  return (
    err instanceof Error &&
    typeof (err as Partial<grpc.ServiceError>).code === 'number' &&
    (err as Partial<grpc.ServiceError>).metadata instanceof grpc.Metadata
  );
}

/** "NOT_FOUND" -> "not found": status codes in words, as people say them. */
export function statusWords(code: grpc.status): string {
  const name = grpc.status[code] ?? `status ${code}`;
  return name.toLowerCase().replace(/_/g, ' ');
}

const HINTS: Partial<Record<grpc.status, string>> = {
  [grpc.status.UNAVAILABLE]: 'is the service running there? (--server or CRONPLANE_SERVER; TLS with --tls)',
  [grpc.status.UNAUTHENTICATED]: 'pass a valid token with --token or CRONPLANE_TOKEN',
  [grpc.status.DEADLINE_EXCEEDED]: 'the service did not answer in time (--timeout)',
  [grpc.status.ABORTED]: 'the task changed meanwhile: run the command again',
};

/** grpc-js and OpenSSL phrase connection failures for logs; keep the part a person can act on. */
function cleanDetails(details: string): string {
  return details
    .replace(/^No connection established\. Last error: (Error: )?/, '')
    .replace(/\.? ?Resolution note: ?$/, '')
    .replace(/^[0-9A-F]+:error:[0-9A-F]+:SSL routines:[^:]*:([^:]+):.*$/s, 'TLS: $1')
    .replace(/\s*\(\d{4}-\d\d-\d\dT[\d:.]+Z\)\s*$/, '')
    .trim();
}

/** What a failure means for the exit code: bad input (2) or anything else (1). */
export function exitCodeOf(err: unknown): number {
  if (err instanceof ContextError) return exitCodeOf(err.cause);
  if (err instanceof UsageError || err instanceof TaskFileError) return EXIT_BAD_INPUT;
  if (isServiceError(err) && (err.code === grpc.status.INVALID_ARGUMENT || err.code === grpc.status.OUT_OF_RANGE)) return EXIT_BAD_INPUT;
  return EXIT_FAILURE;
}

/**
 * A failure in words for stderr, never a stack trace: the status, each field violation on its
 * own line, and a hint where one helps. `context` names what was being done ("task backup").
 */
export function describeError(err: unknown, context?: string): string {
  if (err instanceof ContextError) return describeError(err.cause, err.context);
  const at = context === undefined ? '' : ` (${context})`;
  if (err instanceof UsageError) {
    if (err.usage === undefined) return `error: ${err.message}\n`;
    if (err.fullUsage) return `error: ${err.message}\n\n${err.usage.trimEnd()}\n`;
    return `error: ${err.message}\n${err.usage.split('\n')[0]}\n(--help for details)\n`;
  }
  if (err instanceof TaskFileError) {
    if (err.unreadable) return `error: ${err.file}: ${err.problems.join('; ')}\n`;
    return `error: ${err.file}: the task file is not valid\n${err.problems.map((p) => `  ${p}\n`).join('')}`;
  }
  if (isServiceError(err)) {
    const words = statusWords(err.code);
    // grpc-js wraps connection failures in words meant for its own logs.
    const details = cleanDetails(err.details ?? '');
    const violations = badRequestFromMetadata(err.metadata);
    const lines: string[] = [];
    if (violations.length > 0) {
      lines.push(`error: ${words}${at}`);
      for (const v of violations) lines.push(`  ${v.field}: ${v.description}`);
    } else if (details === '' || details.toLowerCase() === words) {
      lines.push(`error: ${words}${at}`);
    } else if (details.toLowerCase().includes(words)) {
      lines.push(`error: ${details}${at}`);
    } else {
      lines.push(`error: ${words}: ${details}${at}`);
    }
    const hint = /certificate|SSL|TLS|handshake/i.test(details)
      ? 'check the TLS settings: --ca (the CA that signed the server), --cert/--key (mTLS), --server-name'
      : HINTS[err.code];
    if (hint !== undefined) lines.push(`  hint: ${hint}`);
    return `${lines.join('\n')}\n`;
  }
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return `error: ${err.message}${code !== undefined && !err.message.includes(code) ? ` (${code})` : ''}${at}\n`;
  }
  return `error: ${String(err)}${at}\n`;
}
