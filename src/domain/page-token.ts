import { InvalidArgumentError } from './errors.js';

/**
 * Page tokens: opaque to clients (base64url JSON), so stores can change what they put inside
 * without breaking anyone. Not a security boundary: a token only says where to continue.
 */

const MAX_TOKEN_CHARS = 4096;

/** Wraps a store's cursor into the opaque string handed out as next_page_token. */
export function encodePageToken(payload: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
}

/**
 * Reads a token made by encodePageToken; '' (first page) gives {}. Anything else throws
 * InvalidArgumentError on `field`: the client sent a token we never issued.
 */
export function decodePageToken(token: string, field = 'page_token'): Record<string, unknown> {
  if (token === '') return {};
  const invalid = (cause?: unknown): InvalidArgumentError =>
    new InvalidArgumentError([{ field, description: 'invalid page token: pass next_page_token back unchanged' }], { cause });
  if (token.length > MAX_TOKEN_CHARS || !/^[A-Za-z0-9_-]+$/.test(token)) throw invalid();
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch (cause) {
    throw invalid(cause);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid();
  return value as Record<string, unknown>;
}

/** The page size to use: 0 means the default, above the maximum is cut to it, negative is an error. */
export function clampPageSize(size: number, field = 'page_size', def = 50, max = 1000): number {
  if (!Number.isInteger(size) || size < 0) {
    throw new InvalidArgumentError([{ field, description: `must be a whole number >= 0 (0 = default ${def}), got ${size}` }]);
  }
  if (size === 0) return Math.min(def, max);
  return Math.min(size, max);
}
