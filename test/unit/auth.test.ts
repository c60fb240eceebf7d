import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { SignJWT } from 'jose';
import { scopesAllow, scopesOf } from '../../src/auth/access.js';
import { PermissionDeniedError, UnauthenticatedError } from '../../src/auth/auth-errors.js';
import { CLOCK_TOLERANCE_SECONDS, JwtAuthenticator } from '../../src/auth/jwt-authenticator.js';
import { loadJwtKeys, type JwtSettings } from '../../src/auth/jwt-keys.js';
import { listenRefusal } from '../../src/cli/serve-command.js';
import { ConfigError, loadConfig, redactConfig } from '../../src/config/config.js';
import { SchedulerService } from '../../src/gen/cronplane/v1/scheduler_service_pb.js';
import { bearerTokenOf, jwtPrincipalOf } from '../../src/grpc/auth-hook.js';
import { toGrpcError } from '../../src/grpc/error-mapping.js';
import { METHOD_ACCESS } from '../../src/grpc/method-access.js';
import type { GrpcServerCall } from '../../src/grpc/request-context.js';

const SECRET = 'unit-test-secret-long-enough-for-hs256-use';
const enc = new TextEncoder();
const dir = mkdtempSync(join(tmpdir(), 'cronplane-auth-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

describe('scopes', () => {
  test('the scope claim as a space-separated string or an array; write implies read', () => {
    assert.deepEqual([...scopesOf('openid cronplane.read  x')], ['openid', 'cronplane.read', 'x']);
    assert.deepEqual([...scopesOf(['cronplane.write', 7, ''])], ['cronplane.write']);
    assert.deepEqual([...scopesOf(undefined)], []);
    assert.deepEqual([...scopesOf({ scope: 'cronplane.write' })], []);
    assert.equal(scopesAllow(scopesOf('cronplane.read'), 'read'), true);
    assert.equal(scopesAllow(scopesOf('cronplane.read'), 'write'), false);
    assert.equal(scopesAllow(scopesOf('cronplane.write'), 'read'), true);
    assert.equal(scopesAllow(scopesOf('cronplane.readx cronplane'), 'read'), false);
  });

  test('every RPC is classified; exactly the mutating ones need write', () => {
    const names = SchedulerService.methods.map((m) => m.localName).sort();
    assert.deepEqual(Object.keys(METHOD_ACCESS).sort(), names);
    const writes = Object.entries(METHOD_ACCESS).filter(([, a]) => a === 'write').map(([m]) => m).sort();
    assert.deepEqual(writes, ['cancelExecution', 'createTask', 'deleteTask', 'pauseTask', 'resumeTask', 'runTask', 'updateTask']);
  });

  test('auth refusals map to UNAUTHENTICATED and PERMISSION_DENIED with their message', () => {
    assert.equal(toGrpcError(new UnauthenticatedError('invalid token: expired')).code, grpc.status.UNAUTHENTICATED);
    const denied = toGrpcError(new PermissionDeniedError('needs cronplane.write', 'bob'));
    assert.equal(denied.code, grpc.status.PERMISSION_DENIED);
    assert.equal(denied.details, 'needs cronplane.write');
  });
});

describe('bearerTokenOf', () => {
  const md = (...values: string[]) => {
    const m = new grpc.Metadata();
    for (const v of values) m.add('authorization', v);
    return m;
  };
  test('takes "Bearer <token>" (any case of the scheme), refuses anything else', () => {
    assert.equal(bearerTokenOf(md('Bearer abc.def.ghi')), 'abc.def.ghi');
    assert.equal(bearerTokenOf(md('bearer abc')), 'abc');
    for (const bad of [md(), md('Basic abc'), md('Bearer'), md('Bearer a b'), md('Bearer a', 'Bearer b')]) {
      assert.throws(() => bearerTokenOf(bad), UnauthenticatedError);
    }
  });
});

describe('JwtAuthenticator', () => {
  const keys = loadJwtKeys({ secret: SECRET })!;
  const now = Date.UTC(2030, 0, 1);
  const auth = new JwtAuthenticator(keys, {}, () => now);
  const sign = (claims: Record<string, unknown>, exp: number | null = now / 1000 + 60, nbf?: number) => {
    const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' });
    if (exp !== null) jwt.setExpirationTime(exp);
    if (nbf !== undefined) jwt.setNotBefore(nbf);
    return jwt.sign(enc.encode(SECRET));
  };

  test('a valid token gives its sub and scopes', async () => {
    const p = await auth.verify(await sign({ sub: 'alice', scope: 'cronplane.read' }));
    assert.equal(p.subject, 'alice');
    assert.deepEqual([...p.scopes], ['cronplane.read']);
  });

  test('exp and nbf with a small clock tolerance', async () => {
    const t = now / 1000;
    await auth.verify(await sign({ sub: 'a' }, t - CLOCK_TOLERANCE_SECONDS + 5));
    await assert.rejects(auth.verify(await sign({ sub: 'a' }, t - CLOCK_TOLERANCE_SECONDS - 5)), /expired/);
    await auth.verify(await sign({ sub: 'a' }, t + 600, t + CLOCK_TOLERANCE_SECONDS - 5));
    await assert.rejects(auth.verify(await sign({ sub: 'a' }, t + 600, t + CLOCK_TOLERANCE_SECONDS + 5)), /nbf/);
    await assert.rejects(auth.verify(await sign({ sub: 'a' }, null)), /"exp"/);
  });

  test('the principal hook refuses too little scope with PERMISSION_DENIED naming the scope and the caller', async () => {
    const hook = jwtPrincipalOf(auth);
    const call = (token: string) => {
      const metadata = new grpc.Metadata();
      metadata.set('authorization', `Bearer ${token}`);
      return { metadata } as unknown as GrpcServerCall;
    };
    const reader = await sign({ sub: 'bob', scope: 'cronplane.read' });
    assert.equal(await hook(call(reader), 'read'), 'bob');
    await assert.rejects(Promise.resolve(hook(call(reader), 'write')), (err: unknown) => {
      assert.ok(err instanceof PermissionDeniedError);
      assert.equal(err.principal, 'bob');
      assert.match(err.message, /cronplane\.write/);
      return true;
    });
  });
});

describe('loading keys', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const smallRsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  const pem = (k: { export(o: object): string | Buffer }, type: string) => String(k.export({ type, format: 'pem' }));

  const refuses = (settings: JwtSettings, setting: string, pattern: RegExp) => {
    assert.throws(() => loadJwtKeys(settings), (err: Error & { setting?: string }) => {
      assert.equal(err.setting, setting);
      assert.match(err.message, pattern);
      return true;
    });
  };

  test('an RSA public key file is RS256; no key at all is no authentication', () => {
    assert.deepEqual(loadJwtKeys({ publicKeyFile: file('rsa.pem', pem(rsa.publicKey, 'spki')) })?.algorithms, ['RS256']);
    assert.equal(loadJwtKeys({}), undefined);
  });

  test('a secret and a public key together: each token is verified by the key its alg names, never the PEM as a secret', async () => {
    const publicPem = pem(rsa.publicKey, 'spki');
    const keys = loadJwtKeys({ secret: SECRET, publicKeyFile: file('both.pem', publicPem) })!;
    assert.deepEqual(keys.algorithms, ['HS256', 'RS256']);
    const auth = new JwtAuthenticator(keys, {});
    const claims = { sub: 'svc', scope: 'cronplane.write' };
    const hs = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(enc.encode(SECRET));
    const rs = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256' }).setExpirationTime('5m').sign(rsa.privateKey);
    assert.equal((await auth.verify(hs)).subject, 'svc');
    assert.equal((await auth.verify(rs)).subject, 'svc');
    const confused = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(enc.encode(publicPem));
    await assert.rejects(auth.verify(confused), /signature does not verify/);
    const es = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256' }).setExpirationTime('5m').sign(p384.privateKey).catch(() => undefined);
    if (es !== undefined) await assert.rejects(auth.verify(es), /algorithm not accepted/);
  });

  test('weak or misplaced keys are refused with the setting named', () => {
    refuses({ secret: 'short' }, 'jwt-secret', /at least 32 bytes/);
    refuses({ publicKeyFile: file('private.pem', pem(rsa.privateKey, 'pkcs8')) }, 'jwt-public-key-file', /private key/);
    refuses({ publicKeyFile: file('small.pem', pem(smallRsa.publicKey, 'spki')) }, 'jwt-public-key-file', /RSA \(RS256, >= 2048 bits\)/);
    refuses({ publicKeyFile: file('p384.pem', pem(p384.publicKey, 'spki')) }, 'jwt-public-key-file', /P-256/);
    refuses({ publicKeyFile: join(dir, 'missing.pem') }, 'jwt-public-key-file', /ENOENT/);
    refuses({ jwksFile: file('bad.json', '{"keys": 1}') }, 'jwks-file', /"keys" array/);
    refuses({ jwksFile: file('notjson.json', 'nope') }, 'jwks-file', /not JSON/);
    refuses({ jwksFile: file('oct.json', JSON.stringify({ keys: [{ kty: 'oct', k: 'c2VjcmV0' }] })) }, 'jwks-file', /no RSA or EC P-256/);
    refuses({ jwksFile: file('priv.json', JSON.stringify({ keys: [rsa.privateKey.export({ format: 'jwk' })] })) }, 'jwks-file', /private key material/);
    refuses({ issuer: 'https://idp' }, 'jwt-issuer', /no JWT key/);
  });
});

describe('config: auth, TLS, allowlist settings', () => {
  const base = { CRONPLANE_STORE: 'sqlite:/tmp/x.db' };

  test('JWT settings are read, the secret only from the environment and redacted in logs', () => {
    const config = loadConfig(['--jwt-issuer', 'https://idp', '--jwt-audience', 'a, b'], { ...base, CRONPLANE_JWT_SECRET: SECRET });
    assert.deepEqual(config.auth, { secret: SECRET, publicKeyFile: undefined, jwksFile: undefined, issuer: 'https://idp', audience: ['a', 'b'] });
    const shown = JSON.stringify(redactConfig(config));
    assert.ok(!shown.includes(SECRET), 'secret redacted');
    assert.match(shown, /"secret":"\[redacted\]"/);
    assert.throws(() => loadConfig(['--jwt-secret', SECRET], base), ConfigError, 'no flag for the secret');
  });

  test('bad values stop the start with the setting named', () => {
    assert.throws(() => loadConfig([], { ...base, CRONPLANE_JWT_SECRET: 'short' }), /jwt-secret: must be at least 32 bytes/);
    assert.throws(() => loadConfig([], { ...base, CRONPLANE_TLS_CLIENT_CA_FILE: '/x' }), /tls-client-ca-file: mTLS needs/);
    assert.throws(() => loadConfig([], { ...base, CRONPLANE_HTTP_ALLOWED_TARGETS: '10.0.0.0/99' }), /http-allowed-targets: "10\.0\.0\.0\/99"/);
    assert.deepEqual(loadConfig([], { ...base, CRONPLANE_HTTP_ALLOWED_TARGETS: 'a.example, 10.0.0.0/8' }).httpAllowedTargets, ['a.example', '10.0.0.0/8']);
    assert.equal(loadConfig([], base).httpAllowedTargets, undefined);
  });

  test('beyond loopback, serve refuses to start without authentication unless CRONPLANE_INSECURE=1', () => {
    const open = loadConfig([], { ...base, CRONPLANE_GRPC_ADDR: '0.0.0.0:50051' });
    assert.match(listenRefusal(open) ?? '', /refusing to listen on 0\.0\.0\.0:50051 without authentication.*CRONPLANE_INSECURE=1/);
    assert.equal(listenRefusal(loadConfig([], { ...base, CRONPLANE_GRPC_ADDR: ':50051', CRONPLANE_INSECURE: '1' })), undefined);
    assert.equal(listenRefusal(loadConfig([], { ...base, CRONPLANE_GRPC_ADDR: '0.0.0.0:50051', CRONPLANE_JWT_SECRET: SECRET })), undefined);
    assert.equal(listenRefusal(loadConfig([], { ...base, CRONPLANE_GRPC_ADDR: '127.0.0.1:50051' })), undefined);
    assert.notEqual(listenRefusal(loadConfig([], { ...base, CRONPLANE_GRPC_ADDR: ':50051' })), undefined);
  });
});

describe('redactConfig', () => {
  test('credentials inside NATS server URLs are redacted', () => {
    const config = loadConfig([], { CRONPLANE_STORE: 'sqlite:/tmp/x.db', CRONPLANE_NATS_URL: 'nats://u:urlsecret@127.0.0.1:4222,tls://tok@n2:4222,nats://n3:4222' });
    const shown = redactConfig(config) as { nats: { servers: string[] } };
    assert.deepEqual(shown.nats.servers, ['nats://[redacted]@127.0.0.1:4222', 'tls://[redacted]@n2:4222', 'nats://n3:4222']);
    assert.equal(config.nats.servers[0], 'nats://u:urlsecret@127.0.0.1:4222', 'the config itself keeps them');
  });
});
