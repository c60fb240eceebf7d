/**
 * One KV key token from any string: kept as it is when it is plain (A-Z, a-z, 0-9, '_', '-'),
 * else `=` + hex of its UTF-8 bytes. A plain token never contains '=', so the two forms never
 * collide; task names and uuid execution ids stay readable in `nats kv ls`.
 */
export function kvKeyToken(value: string): string {
  return /^[A-Za-z0-9_-]+$/.test(value) ? value : `=${Buffer.from(value, 'utf8').toString('hex')}`;
}

/** Inverse of kvKeyToken. */
export function fromKvKeyToken(token: string): string {
  return token.startsWith('=') ? Buffer.from(token.slice(1), 'hex').toString('utf8') : token;
}
