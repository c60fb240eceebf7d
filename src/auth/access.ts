/** What a call does to the control plane: reads need `cronplane.read`, changes `cronplane.write`. */
export type Access = 'read' | 'write';

/** The scope names in a token's `scope` claim. */
export const SCOPES: Readonly<Record<Access, string>> = Object.freeze({
  read: 'cronplane.read',
  write: 'cronplane.write',
});

/**
 * The scopes a token grants, from its `scope` claim: a space-separated string (RFC 8693) or an
 * array of strings (as some issuers write it). Anything else grants nothing.
 */
export function scopesOf(claim: unknown): Set<string> {
  if (typeof claim === 'string') return new Set(claim.split(' ').filter((s) => s !== ''));
  if (Array.isArray(claim)) return new Set(claim.filter((s): s is string => typeof s === 'string' && s !== ''));
  return new Set();
}

/** Whether `scopes` permit `access`; write implies read, so one write token does everything. */
export function scopesAllow(scopes: ReadonlySet<string>, access: Access): boolean {
  if (scopes.has(SCOPES.write)) return true;
  return access === 'read' && scopes.has(SCOPES.read);
}
