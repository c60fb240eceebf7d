import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { pino } from 'pino';
import { createSchedulerClient, type SchedulerClient, type SchedulerClientOptions } from '../../src/client/scheduler-client.js';
import { loadConfig } from '../../src/config/config.js';
import { startService, type Service } from '../../src/main.js';
import { NATS_URL, uniquePrefix } from '../helpers/service-harness.js';

const SECRET = 'a-test-secret-that-is-long-enough-for-hs256!';
const OTHER_SECRET = 'another-secret-that-is-long-enough-for-hs256';
const enc = new TextEncoder();

type LogLine = Record<string, unknown>;

/** A service in this process with its log lines captured (JSON objects), on loopback with auth settings. */
class CapturedService {
  readonly dir = mkdtempSync(join(tmpdir(), 'cronplane-auth-'));
  readonly lines: LogLine[] = [];
  service!: Service;
  private readonly clients: SchedulerClient[] = [];

  async start(env: Record<string, string>): Promise<this> {
    const config = loadConfig([], {
      CRONPLANE_GRPC_ADDR: '127.0.0.1:0',
      CRONPLANE_HTTP_ADDR: '127.0.0.1:0',
      CRONPLANE_STORE: `sqlite:${join(this.dir, 'cronplane.db')}`,
      CRONPLANE_NATS_URL: NATS_URL,
      CRONPLANE_SUBJECT_PREFIX: uniquePrefix(),
      CRONPLANE_NODE_NAME: 'auth-test',
      CRONPLANE_SHUTDOWN_GRACE: '1s',
      ...env,
    });
    const log = pino({ level: 'debug' }, { write: (s: string) => void this.lines.push(JSON.parse(s) as LogLine) });
    this.service = await startService(config, { log });
    return this;
  }

  get address(): string {
    return `127.0.0.1:${this.service.grpcPort}`;
  }

  client(options: SchedulerClientOptions = {}): SchedulerClient {
    const c = createSchedulerClient(this.address, options);
    this.clients.push(c);
    return c;
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.close();
    await this.service?.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function hs256(claims: JWTPayload, options: { secret?: string; expiresIn?: string | number; notBefore?: string | number } = {}): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  jwt.setExpirationTime(options.expiresIn ?? '5m');
  if (options.notBefore !== undefined) jwt.setNotBefore(options.notBefore);
  return jwt.sign(enc.encode(options.secret ?? SECRET));
}

async function rejects(promise: Promise<unknown>, code: grpc.status, details?: RegExp): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (err) {
    const e = err as grpc.ServiceError;
    assert.equal(e.code, code, `expected ${grpc.status[code]}, got ${grpc.status[e.code]}: ${e.details}`);
    if (details !== undefined) assert.match(e.details, details);
    return e;
  }
  assert.fail(`expected ${grpc.status[code]}, got success`);
}

const task = (name: string) => ({
  name,
  schedule: { cron: '0 0 1 1 *' },
  action: { kind: { case: 'natsPublish' as const, value: { subject: `auth.${name}` } } },
});

/** A raw call with pass-through bytes: health and reflection need no generated client. */
function rawClient(address: string, credentials = grpc.credentials.createInsecure()): grpc.Client {
  return new grpc.Client(address, credentials);
}
const pass = (b: Buffer) => b;

function healthCheck(client: grpc.Client, metadata = new grpc.Metadata()): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest('/grpc.health.v1.Health/Check', pass, pass, Buffer.alloc(0), metadata, (err, res) => (err ? reject(err) : resolve(res!)));
  });
}

/** ServerReflectionRequest { list_services: "*" } (field 7) and the first response's bytes. */
function listServices(client: grpc.Client): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const stream = client.makeBidiStreamRequest('/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', pass, pass);
    stream.once('data', (data: Buffer) => {
      resolve(data);
      stream.cancel();
    });
    stream.once('error', (err: grpc.ServiceError) => {
      if (err.code !== grpc.status.CANCELLED) reject(err);
    });
    stream.write(Buffer.from([0x3a, 0x01, 0x2a]));
    stream.end();
  });
}

describe('bearer-token authentication (HS256) over real gRPC', () => {
  const s = new CapturedService();
  let writer: string;
  let reader: string;
  before(async () => {
    await s.start({ CRONPLANE_JWT_SECRET: SECRET });
    writer = await hs256({ sub: 'alice', scope: 'cronplane.write' });
    reader = await hs256({ sub: 'bob', scope: 'cronplane.read' });
  });
  after(() => s.close());

  test('no token, an expired token, a wrong signature, a future nbf, garbage: UNAUTHENTICATED, on reads, writes and watches', async () => {
    const anonymous = s.client();
    await rejects(anonymous.getTask({ name: 'x' }), grpc.status.UNAUTHENTICATED, /missing bearer token/);
    await rejects(anonymous.createTask({ task: task('nope') }), grpc.status.UNAUTHENTICATED);
    const watch = anonymous.watchExecutions({});
    await rejects((async () => { for await (const _ of watch) { /* nothing may arrive */ } })(), grpc.status.UNAUTHENTICATED);

    const expired = await hs256({ sub: 'alice', scope: 'cronplane.write' }, { expiresIn: Math.floor(Date.now() / 1000) - 3600 });
    await rejects(s.client({ token: expired }).getTask({ name: 'x' }), grpc.status.UNAUTHENTICATED, /expired/);

    const forged = await hs256({ sub: 'mallory', scope: 'cronplane.write' }, { secret: OTHER_SECRET });
    await rejects(s.client({ token: forged }).createTask({ task: task('forged') }), grpc.status.UNAUTHENTICATED, /signature/);

    const early = await hs256({ sub: 'alice', scope: 'cronplane.write' }, { notBefore: '1h' });
    await rejects(s.client({ token: early }).getTask({ name: 'x' }), grpc.status.UNAUTHENTICATED, /nbf/);

    const noExp = await new SignJWT({ sub: 'alice', scope: 'cronplane.write' }).setProtectedHeader({ alg: 'HS256' }).sign(enc.encode(SECRET));
    await rejects(s.client({ token: noExp }).getTask({ name: 'x' }), grpc.status.UNAUTHENTICATED, /exp/);

    const noSub = await hs256({ scope: 'cronplane.write' });
    await rejects(s.client({ token: noSub }).getTask({ name: 'x' }), grpc.status.UNAUTHENTICATED, /sub/);

    // alg "none" must never pass, whatever it claims.
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const unsigned = `${b64({ alg: 'none' })}.${b64({ sub: 'root', scope: 'cronplane.write', exp: 9999999999 })}.`;
    await rejects(s.client({ token: unsigned }).createTask({ task: task('unsigned') }), grpc.status.UNAUTHENTICATED);

    for (const value of ['Basic YWxpY2U6c2VjcmV0', 'Bearer', 'Bearer not.a.jwt', `Bearer ${'x'.repeat(9000)}`]) {
      await rejects(s.client().getTask({ name: 'x' }, { metadata: { authorization: value } }), grpc.status.UNAUTHENTICATED);
    }
    // Nothing of this was created.
    const list = await s.client({ token: writer }).listTasks({});
    assert.deepEqual(list.tasks.map((t) => t.name), []);
  });

  test('a read-scope token reads but cannot create (PERMISSION_DENIED); a write-scope token can, and is recorded as created_by / updated_by', async () => {
    const write = s.client({ token: writer });
    const read = s.client({ token: reader });
    await rejects(read.createTask({ task: task('by-reader') }), grpc.status.PERMISSION_DENIED, /cronplane\.write/);
    await rejects(read.runTask({ name: 'by-reader' }), grpc.status.PERMISSION_DENIED);

    const created = await write.createTask({ task: task('by-writer') }, { metadata: { 'x-request-id': 'req-audit-create' } });
    assert.equal(created.task!.createdBy, 'alice');
    assert.equal(created.task!.updatedBy, 'alice');

    const got = await read.getTask({ name: 'by-writer' });
    assert.equal(got.task!.createdBy, 'alice');
    assert.equal((await read.listTasks({})).tasks.length, 1);
    await read.previewSchedule({ schedule: { cron: '* * * * *' }, count: 2 });
    await read.listExecutions({ taskName: 'by-writer' });

    // Write implies read; scope may also be an array claim.
    const carol = s.client({ token: await hs256({ sub: 'carol', scope: ['cronplane.write'] }) });
    const paused = await carol.pauseTask({ name: 'by-writer' });
    assert.equal(paused.task!.updatedBy, 'carol');
    assert.equal(paused.task!.createdBy, 'alice');
    await carol.getTask({ name: 'by-writer' });

    // A token without any cronplane scope reads nothing.
    const nobody = s.client({ token: await hs256({ sub: 'dave', scope: 'openid profile' }) });
    await rejects(nobody.getTask({ name: 'by-writer' }), grpc.status.PERMISSION_DENIED, /cronplane\.read/);
  });

  test('audit: one line per mutating RPC with who, what, which task, result and request id; the principal is on the request log lines', async () => {
    const created = s.lines.find((l) => l['audit'] === true && l['requestId'] === 'req-audit-create');
    assert.ok(created, 'audit line for the create');
    assert.equal(created['principal'], 'alice');
    assert.equal(created['method'], 'CreateTask');
    assert.equal(created['task'], 'by-writer');
    assert.equal(created['result'], 'OK');

    const denied = s.lines.find((l) => l['audit'] === true && l['method'] === 'CreateTask' && l['task'] === 'by-reader');
    assert.ok(denied, 'audit line for the refused create');
    assert.equal(denied['result'], 'PERMISSION_DENIED');
    assert.equal(denied['principal'], 'bob');

    const unauthenticated = s.lines.find((l) => l['audit'] === true && l['task'] === 'forged');
    assert.ok(unauthenticated, 'audit line for the forged create');
    assert.equal(unauthenticated['result'], 'UNAUTHENTICATED');
    assert.equal(unauthenticated['principal'], undefined, 'an unverified sub is never reported as the principal');

    const pause = s.lines.find((l) => l['audit'] === true && l['method'] === 'PauseTask');
    assert.equal(pause?.['principal'], 'carol');
    // Reads are not audited, but their log lines carry the principal.
    assert.equal(s.lines.filter((l) => l['audit'] === true && l['method'] === 'GetTask').length, 0);
    const readLine = s.lines.find((l) => l['method'] === 'GetTask' && l['principal'] === 'bob');
    assert.ok(readLine, 'a GetTask log line with principal bob');
    assert.ok(typeof readLine['requestId'] === 'string' && readLine['requestId'] !== '');
  });

  test('health checking and reflection answer without a token', async () => {
    const raw = rawClient(s.address);
    try {
      const health = await healthCheck(raw);
      assert.deepEqual([...health], [0x08, 0x01], 'SERVING');
      const reflection = await listServices(raw);
      assert.match(reflection.toString('latin1'), /cronplane\.v1\.SchedulerService/);
    } finally {
      raw.close();
    }
  });
});

describe('RS256 public key file, ES256 key set, issuer and audience', () => {
  const rs = new CapturedService();
  const es = new CapturedService();
  const dir = mkdtempSync(join(tmpdir(), 'cronplane-keys-'));
  let rsaPrivate: CryptoKey;
  let ecPrivate: CryptoKey;
  let rsaPem: string;

  before(async () => {
    const rsa = await generateKeyPair('RS256', { extractable: true });
    const ec = await generateKeyPair('ES256', { extractable: true });
    rsaPrivate = rsa.privateKey;
    ecPrivate = ec.privateKey;
    rsaPem = await exportSPKI(rsa.publicKey);
    writeFileSync(join(dir, 'rsa.pem'), rsaPem);
    const jwk = { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', use: 'sig' };
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
    await rs.start({ CRONPLANE_JWT_PUBLIC_KEY_FILE: join(dir, 'rsa.pem'), CRONPLANE_JWT_ISSUER: 'https://idp.test', CRONPLANE_JWT_AUDIENCE: 'cronplane,other' });
    await es.start({ CRONPLANE_JWKS_FILE: join(dir, 'jwks.json') });
  });
  after(async () => {
    await rs.close();
    await es.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const sign = (key: CryptoKey, alg: string, claims: JWTPayload, kid?: string) =>
    new SignJWT(claims).setProtectedHeader({ alg, ...(kid === undefined ? {} : { kid }) }).setIssuedAt().setExpirationTime('5m').sign(key);

  test('RS256 with issuer and audience; the wrong issuer or audience is UNAUTHENTICATED; HS256 signed with the public key (alg confusion) is refused', async () => {
    const good = await sign(rsaPrivate, 'RS256', { sub: 'svc-a', scope: 'cronplane.write', iss: 'https://idp.test', aud: 'cronplane' });
    const created = await rs.client({ token: good }).createTask({ task: task('rs-task') });
    assert.equal(created.task!.createdBy, 'svc-a');

    const wrongIss = await sign(rsaPrivate, 'RS256', { sub: 'svc-a', scope: 'cronplane.write', iss: 'https://evil.test', aud: 'cronplane' });
    await rejects(rs.client({ token: wrongIss }).getTask({ name: 'rs-task' }), grpc.status.UNAUTHENTICATED, /iss/);
    const wrongAud = await sign(rsaPrivate, 'RS256', { sub: 'svc-a', scope: 'cronplane.write', iss: 'https://idp.test', aud: 'billing' });
    await rejects(rs.client({ token: wrongAud }).getTask({ name: 'rs-task' }), grpc.status.UNAUTHENTICATED, /aud/);

    const confused = await new SignJWT({ sub: 'svc-a', scope: 'cronplane.write', iss: 'https://idp.test', aud: 'cronplane' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('5m')
      .sign(enc.encode(rsaPem));
    await rejects(rs.client({ token: confused }).getTask({ name: 'rs-task' }), grpc.status.UNAUTHENTICATED, /algorithm/);
  });

  test('ES256 from a JWK set, by kid', async () => {
    const good = await sign(ecPrivate, 'ES256', { sub: 'svc-b', scope: 'cronplane.read cronplane.write' }, 'ec-1');
    const created = await es.client({ token: good }).createTask({ task: task('es-task') });
    assert.equal(created.task!.createdBy, 'svc-b');
    const unknownKid = await sign(ecPrivate, 'ES256', { sub: 'svc-b', scope: 'cronplane.write' }, 'ec-2');
    await rejects(es.client({ token: unknownKid }).getTask({ name: 'es-task' }), grpc.status.UNAUTHENTICATED, /key/);
    const rsaToken = await sign(rsaPrivate, 'RS256', { sub: 'svc-b', scope: 'cronplane.write' }, 'ec-1');
    await rejects(es.client({ token: rsaToken }).getTask({ name: 'es-task' }), grpc.status.UNAUTHENTICATED);
  });
});
