import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { SignJWT } from 'jose';
import { pino } from 'pino';
import { createSchedulerClient, type SchedulerClient, type SchedulerClientOptions } from '../../src/client/scheduler-client.js';
import { loadConfig } from '../../src/config/config.js';
import { startService, type Service } from '../../src/main.js';
import { createTestPki, type TestPki } from '../helpers/certs.js';
import { CLI_PATH, freePort, runCli } from '../helpers/child-service.js';
import { NATS_URL, uniquePrefix } from '../helpers/service-harness.js';

const SECRET = 'tls-test-secret-that-is-long-enough-for-hs256';

class TlsService {
  readonly dir = mkdtempSync(join(tmpdir(), 'cronplane-tls-'));
  service!: Service;
  private readonly clients: SchedulerClient[] = [];

  async start(env: Record<string, string>): Promise<this> {
    const config = loadConfig([], {
      CRONPLANE_GRPC_ADDR: '127.0.0.1:0',
      CRONPLANE_HTTP_ADDR: '127.0.0.1:0',
      CRONPLANE_STORE: `sqlite:${join(this.dir, 'cronplane.db')}`,
      CRONPLANE_NATS_URL: NATS_URL,
      CRONPLANE_SUBJECT_PREFIX: uniquePrefix(),
      CRONPLANE_NODE_NAME: 'tls-test',
      CRONPLANE_SHUTDOWN_GRACE: '1s',
      ...env,
    });
    this.service = await startService(config, { log: pino({ level: 'silent' }) });
    return this;
  }

  /** TLS clients check the server certificate for "localhost" (an IP as SNI is deprecated). */
  client(options: SchedulerClientOptions = {}): SchedulerClient {
    const channelOptions = options.credentials === undefined ? {} : { 'grpc.ssl_target_name_override': 'localhost' };
    const c = createSchedulerClient(`127.0.0.1:${this.service.grpcPort}`, { channelOptions, ...options });
    this.clients.push(c);
    return c;
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.close();
    await this.service?.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const task = (name: string) => ({
  name,
  schedule: { cron: '0 0 1 1 *' },
  action: { kind: { case: 'natsPublish' as const, value: { subject: `tls.${name}` } } },
});

async function refused(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (err) {
    const e = err as grpc.ServiceError;
    assert.equal(e.code, grpc.status.UNAVAILABLE, `expected UNAVAILABLE (no connection), got ${grpc.status[e.code]}: ${e.details}`);
    return e;
  }
  assert.fail('expected the connection to be refused, got an answer');
}

describe('TLS and mTLS for gRPC', () => {
  let pki: TestPki;
  before(() => {
    pki = createTestPki();
  });
  after(() => pki.remove());

  test('TLS: a client trusting the CA works; a plaintext client gets no answer', async () => {
    const s = await new TlsService().start({ CRONPLANE_TLS_CERT_FILE: pki.serverCert, CRONPLANE_TLS_KEY_FILE: pki.serverKey });
    try {
      const secure = s.client({ credentials: grpc.credentials.createSsl(pki.read(pki.caCert)) });
      await secure.createTask({ task: task('over-tls') });
      assert.equal((await secure.getTask({ name: 'over-tls' })).task!.name, 'over-tls');
      await refused(s.client().getTask({ name: 'over-tls' }, { timeoutMs: 3_000 }));
    } finally {
      await s.close();
    }
  });

  test('mTLS: a client certificate from the CA works (its CN is the principal); none, or one from another CA, is refused', async () => {
    const s = await new TlsService().start({
      CRONPLANE_TLS_CERT_FILE: pki.serverCert,
      CRONPLANE_TLS_KEY_FILE: pki.serverKey,
      CRONPLANE_TLS_CLIENT_CA_FILE: pki.caCert,
    });
    try {
      const ca = pki.read(pki.caCert);
      const withCert = s.client({ credentials: grpc.credentials.createSsl(ca, pki.read(pki.clientKey), pki.read(pki.clientCert)) });
      const created = await withCert.createTask({ task: task('over-mtls') });
      assert.equal(created.task!.createdBy, 'client-one');

      await refused(s.client({ credentials: grpc.credentials.createSsl(ca) }).getTask({ name: 'over-mtls' }, { timeoutMs: 3_000 }));
      const stranger = s.client({ credentials: grpc.credentials.createSsl(ca, pki.read(pki.strangerKey), pki.read(pki.strangerCert)) });
      await refused(stranger.getTask({ name: 'over-mtls' }, { timeoutMs: 3_000 }));
    } finally {
      await s.close();
    }
  });

  test('mTLS with a JWT key: the certificate gets the connection, the token the call; the principal is the token subject', async () => {
    const s = await new TlsService().start({
      CRONPLANE_TLS_CERT_FILE: pki.serverCert,
      CRONPLANE_TLS_KEY_FILE: pki.serverKey,
      CRONPLANE_TLS_CLIENT_CA_FILE: pki.caCert,
      CRONPLANE_JWT_SECRET: SECRET,
    });
    try {
      const credentials = () => grpc.credentials.createSsl(pki.read(pki.caCert), pki.read(pki.clientKey), pki.read(pki.clientCert));
      const noToken = s.client({ credentials: credentials() });
      await assert.rejects(noToken.getTask({ name: 'x' }), (err: grpc.ServiceError) => err.code === grpc.status.UNAUTHENTICATED);
      const token = await new SignJWT({ sub: 'deploy-bot', scope: 'cronplane.write' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(new TextEncoder().encode(SECRET));
      const created = await s.client({ credentials: credentials(), token }).createTask({ task: task('both') });
      assert.equal(created.task!.createdBy, 'deploy-bot');
    } finally {
      await s.close();
    }
  });

  test('bad TLS settings stop serve with exit 2 naming the setting', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cronplane-tls-cfg-'));
    try {
      const base = { CRONPLANE_STORE: `sqlite:${dir}/x.db`, CRONPLANE_GRPC_ADDR: `127.0.0.1:${await freePort()}`, CRONPLANE_HTTP_ADDR: `127.0.0.1:${await freePort()}` };
      const [onlyCert, mismatched, missing] = await Promise.all([
        runCli(['serve'], { ...base, CRONPLANE_TLS_CERT_FILE: pki.serverCert }),
        runCli(['serve'], { ...base, CRONPLANE_TLS_CERT_FILE: pki.serverCert, CRONPLANE_TLS_KEY_FILE: pki.clientKey }),
        runCli(['serve'], { ...base, CRONPLANE_TLS_CERT_FILE: pki.serverCert, CRONPLANE_TLS_KEY_FILE: pki.serverKey, CRONPLANE_TLS_CLIENT_CA_FILE: join(dir, 'nope.pem') }),
      ]);
      assert.equal(onlyCert.code, 2, onlyCert.stderr);
      assert.match(onlyCert.stderr, /tls-key-file/);
      assert.equal(mismatched.code, 2, mismatched.stderr);
      assert.match(mismatched.stderr, /certificate and key/);
      assert.equal(missing.code, 2, missing.stderr);
      assert.match(missing.stderr, /tls-client-ca-file.*ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('listening beyond loopback', () => {
  test('without authentication serve exits non-zero with a clear message; with a JWT key it serves', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cronplane-open-'));
    try {
      const env = { CRONPLANE_STORE: `sqlite:${dir}/x.db`, CRONPLANE_HTTP_ADDR: `127.0.0.1:${await freePort()}`, CRONPLANE_NATS_URL: NATS_URL };
      const grpcAddr = `0.0.0.0:${await freePort()}`;
      const open = await runCli(['serve'], { ...env, CRONPLANE_GRPC_ADDR: grpcAddr });
      assert.equal(open.code, 2, open.stderr);
      assert.match(open.stderr, /refusing to listen on 0\.0\.0\.0:\d+ without authentication/);
      assert.match(open.stderr, /CRONPLANE_JWT_SECRET/);
      assert.match(open.stderr, /CRONPLANE_INSECURE=1/);

      // With a key the same address is fine: the service starts, serves, and stops on SIGTERM.
      const child = spawn(process.execPath, [CLI_PATH, 'serve'], {
        env: { PATH: process.env['PATH'] ?? '', ...env, CRONPLANE_GRPC_ADDR: grpcAddr, CRONPLANE_JWT_SECRET: SECRET },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
      const serving = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no 'cronplane serving' line; stderr: ${stderr}`)), 10_000);
        createInterface({ input: child.stdout }).on('line', (line) => {
          const parsed = JSON.parse(line) as Record<string, unknown>;
          if (parsed['msg'] === 'cronplane serving') {
            clearTimeout(timer);
            resolve(parsed);
          }
        });
        void exited.then((code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
      });
      assert.equal(serving['authentication'], 'jwt');
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
