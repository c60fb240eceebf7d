import { errors, jwtVerify, type CryptoKey, type FlattenedJWSInput, type JWK, type JWTHeaderParameters, type KeyObject } from 'jose';
import { scopesOf } from './access.js';
import { UnauthenticatedError } from './auth-errors.js';
import type { JwtKeys, JwtSettings } from './jwt-keys.js';

/** Who a verified token speaks for and what it may do. */
export interface Principal {
  /** The token's `sub`: recorded as created_by / updated_by and in every log line of the request. */
  subject: string;
  scopes: Set<string>;
}

/** Hosts' clocks drift a little; a token is accepted this far past `exp` / before `nbf`. */
export const CLOCK_TOLERANCE_SECONDS = 30;
/** Tokens longer than this are refused before any parsing (real ones are well under 2 KiB). */
export const MAX_TOKEN_CHARS = 8192;

/**
 * Verifies bearer tokens with jose: the signature by a configured key (HS256 secret, RS256/ES256
 * public key or JWK set), `exp` (required) and `nbf` with a small clock tolerance, and `iss`/`aud`
 * when configured. The key is chosen by the token's `alg` among the configured ones only, so an
 * RS256 key can never be misused as an HS256 secret.
 */
export class JwtAuthenticator {
  constructor(private readonly keys: JwtKeys, private readonly settings: JwtSettings, private readonly now: () => number = Date.now) {}

  /** The principal of a valid token; throws UnauthenticatedError with a reason safe to show the caller. */
  async verify(token: string): Promise<Principal> {
    if (token.length > MAX_TOKEN_CHARS) throw new UnauthenticatedError('bearer token is too long');
    let payload;
    try {
      ({ payload } = await jwtVerify(token, (header, input) => this.keyFor(header, input), {
        algorithms: this.keys.algorithms,
        issuer: this.settings.issuer,
        audience: this.settings.audience,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        currentDate: new Date(this.now()),
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      throw new UnauthenticatedError(reasonOf(err), { cause: err });
    }
    if (typeof payload.sub !== 'string' || payload.sub === '') throw new UnauthenticatedError('invalid token: no "sub" claim');
    return { subject: payload.sub, scopes: scopesOf(payload['scope']) };
  }

  private async keyFor(header: JWTHeaderParameters, input: FlattenedJWSInput): Promise<Uint8Array | KeyObject | CryptoKey | JWK> {
    // `algorithms` already limited `alg` to what some configured key verifies.
    if (header.alg === 'HS256' && this.keys.secret !== undefined) return this.keys.secret;
    const publicKey = this.keys.publicKey;
    const publicKeyFits = publicKey !== undefined && publicKey.algorithm === header.alg;
    // A `kid` names a key of the set; without one, the single public key file is the match.
    if (this.keys.jwks !== undefined && (!publicKeyFits || header.kid !== undefined)) return this.keys.jwks(header, input);
    if (publicKeyFits) return publicKey.key;
    throw new UnauthenticatedError('invalid token: no configured key for its algorithm');
  }
}

/** jose's error, in words the caller may see: which check failed, never key material. */
function reasonOf(err: unknown): string {
  if (err instanceof UnauthenticatedError) return err.message;
  if (err instanceof errors.JWTExpired) return 'invalid token: expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return 'invalid token: not valid yet (nbf)';
    if (err.claim === 'iat') return 'invalid token: issued in the future (iat)';
    if (err.reason === 'missing') return `invalid token: no "${err.claim}" claim`;
    return `invalid token: unexpected "${err.claim}"`;
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'invalid token: signature does not verify';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'invalid token: algorithm not accepted';
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) return 'invalid token: no matching key';
  return 'invalid token: malformed';
}
