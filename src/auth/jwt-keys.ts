import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, type JSONWebKeySet, type JWK, type JWTVerifyGetKey } from 'jose';

/** Bearer-token settings as configured (CRONPLANE_JWT_*): plain values and file paths, loggable once the secret is redacted. */
export interface JwtSettings {
  /** HS256 shared secret (CRONPLANE_JWT_SECRET). */
  secret?: string;
  /** PEM SPKI public key, RSA (RS256) or EC P-256 (ES256) (CRONPLANE_JWT_PUBLIC_KEY_FILE). */
  publicKeyFile?: string;
  /** A JSON Web Key Set file with RSA / EC P-256 public keys (CRONPLANE_JWKS_FILE). */
  jwksFile?: string;
  /** Required `iss` (CRONPLANE_JWT_ISSUER). */
  issuer?: string;
  /** Accepted `aud` values, any one suffices (CRONPLANE_JWT_AUDIENCE, comma-separated). */
  audience?: string[];
}

/** A setting that cannot be used; `setting` names it as the operator wrote it. */
export class JwtSettingError extends Error {
  constructor(readonly setting: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'JwtSettingError';
  }
}

/** HS256 needs a key as long as its hash (RFC 7518 §3.2); shorter secrets are brute-forceable. */
export const MIN_SECRET_BYTES = 32;
/** RSA keys below this are breakable; RFC 7518 §3.3 requires 2048 bits for RS256. */
const MIN_RSA_BITS = 2048;

/** The asymmetric algorithms accepted: the ones RFC 7518 recommends, and no others (no "none", no PS/EdDSA surprises). */
export type AsymmetricAlgorithm = 'RS256' | 'ES256';

/** The verification keys, loaded and checked. Algorithms are tied to keys, never taken from the token alone. */
export interface JwtKeys {
  secret?: Uint8Array;
  publicKey?: { key: KeyObject; algorithm: AsymmetricAlgorithm };
  jwks?: JWTVerifyGetKey;
  /** Every algorithm some key above can verify: the token's `alg` must be one of these. */
  algorithms: string[];
}

/** Whether any bearer-token key is configured (then every SchedulerService call needs a token). */
export function jwtConfigured(settings: JwtSettings): boolean {
  return settings.secret !== undefined || settings.publicKeyFile !== undefined || settings.jwksFile !== undefined;
}

/**
 * Reads and checks the configured keys, synchronously so `loadConfig` can refuse a bad file
 * at start with a message naming the setting. Returns undefined when no key is configured.
 */
export function loadJwtKeys(settings: JwtSettings): JwtKeys | undefined {
  if (!jwtConfigured(settings)) {
    if (settings.issuer !== undefined) throw new JwtSettingError('jwt-issuer', 'is set, but no JWT key is configured (CRONPLANE_JWT_SECRET, _PUBLIC_KEY_FILE or CRONPLANE_JWKS_FILE)');
    if (settings.audience !== undefined) throw new JwtSettingError('jwt-audience', 'is set, but no JWT key is configured (CRONPLANE_JWT_SECRET, _PUBLIC_KEY_FILE or CRONPLANE_JWKS_FILE)');
    return undefined;
  }
  const keys: JwtKeys = { algorithms: [] };
  if (settings.secret !== undefined) {
    const secret = new TextEncoder().encode(settings.secret);
    if (secret.byteLength < MIN_SECRET_BYTES) {
      throw new JwtSettingError('jwt-secret', `must be at least ${MIN_SECRET_BYTES} bytes for HS256, got ${secret.byteLength}`);
    }
    keys.secret = secret;
    keys.algorithms.push('HS256');
  }
  if (settings.publicKeyFile !== undefined) {
    keys.publicKey = loadPublicKey(settings.publicKeyFile);
    keys.algorithms.push(keys.publicKey.algorithm);
  }
  if (settings.jwksFile !== undefined) {
    const { getKey, algorithms } = loadJwks(settings.jwksFile);
    keys.jwks = getKey;
    keys.algorithms.push(...algorithms);
  }
  keys.algorithms = [...new Set(keys.algorithms)];
  return keys;
}

function readText(setting: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new JwtSettingError(setting, `cannot read "${path}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}

function loadPublicKey(path: string): { key: KeyObject; algorithm: AsymmetricAlgorithm } {
  const setting = 'jwt-public-key-file';
  const pem = readText(setting, path);
  // createPublicKey would happily derive a public key from a private one; a private key has no
  // business on a verifying server, so say so instead of using it.
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) throw new JwtSettingError(setting, `"${path}" holds a private key; give the public key (PEM "BEGIN PUBLIC KEY")`);
  if (!pem.includes('-----BEGIN PUBLIC KEY-----')) throw new JwtSettingError(setting, `"${path}" is not a PEM SPKI public key ("BEGIN PUBLIC KEY")`);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new JwtSettingError(setting, `"${path}" is not a valid public key: ${(err as Error).message}`, { cause: err });
  }
  const algorithm = algorithmFor(key);
  if (algorithm === undefined) {
    throw new JwtSettingError(setting, `"${path}": only RSA (RS256, >= ${MIN_RSA_BITS} bits) and EC P-256 (ES256) keys are supported`);
  }
  return { key, algorithm };
}

function algorithmFor(key: KeyObject): AsymmetricAlgorithm | undefined {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'rsa' && (details?.modulusLength ?? 0) >= MIN_RSA_BITS) return 'RS256';
  if (key.asymmetricKeyType === 'ec' && details?.namedCurve === 'prime256v1') return 'ES256';
  return undefined;
}

function jwkAlgorithm(jwk: JWK): AsymmetricAlgorithm | undefined {
  if (jwk.kty === 'RSA' && (jwk.alg === undefined || jwk.alg === 'RS256')) return 'RS256';
  if (jwk.kty === 'EC' && jwk.crv === 'P-256' && (jwk.alg === undefined || jwk.alg === 'ES256')) return 'ES256';
  return undefined;
}

function loadJwks(path: string): { getKey: JWTVerifyGetKey; algorithms: AsymmetricAlgorithm[] } {
  const setting = 'jwks-file';
  let parsed: unknown;
  try {
    parsed = JSON.parse(readText(setting, path));
  } catch (err) {
    if (err instanceof JwtSettingError) throw err;
    throw new JwtSettingError(setting, `"${path}" is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const keys = (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new JwtSettingError(setting, `"${path}" is not a JWK set (an object with a "keys" array)`);
  if (keys.some((k) => typeof k === 'object' && k !== null && 'd' in k)) {
    throw new JwtSettingError(setting, `"${path}" holds private key material ("d"); publish only the public keys`);
  }
  // Keep only keys this server can use: RS256 / ES256 public keys (an "oct" key in a public set
  // would let anyone who reads the file mint tokens).
  const usable = (keys as JWK[]).filter((k) => typeof k === 'object' && k !== null && jwkAlgorithm(k) !== undefined);
  if (usable.length === 0) throw new JwtSettingError(setting, `"${path}" has no RSA or EC P-256 public key`);
  let getKey: JWTVerifyGetKey;
  try {
    getKey = createLocalJWKSet({ keys: usable } as JSONWebKeySet);
  } catch (err) {
    throw new JwtSettingError(setting, `"${path}" is not a valid JWK set: ${(err as Error).message}`, { cause: err });
  }
  return { getKey, algorithms: [...new Set(usable.map((k) => jwkAlgorithm(k)!))] };
}
