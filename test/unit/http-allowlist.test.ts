import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ActionFailedError, type ActionContext } from '../../src/actions/action.js';
import { runHttp } from '../../src/actions/http-action.js';
import { HttpAllowedTargets } from '../../src/config/http-allowed-targets.js';
import { InvalidArgumentError } from '../../src/domain/errors.js';
import { emptyTaskSpec, type HttpActionSpec } from '../../src/domain/task.js';
import { ControlPlane } from '../../src/engine/control-plane.js';
import type { Engine } from '../../src/engine/engine.js';
import type { Store } from '../../src/store/store.js';
import { systemClock } from '../../src/engine/clock.js';

const http = (url: string): HttpActionSpec => ({ kind: 'http', url, method: 'GET', headers: {}, body: new Uint8Array(), successCodes: [] });

describe('HttpAllowedTargets', () => {
  test('host names, wildcards below a domain, addresses and CIDRs (v4, v6, IPv4-mapped)', () => {
    const list = HttpAllowedTargets.parse(' api.example.com, *.corp.example.net ,10.0.0.0/8, 192.168.1.5, fd00::/8 ');
    assert.equal(list.checkHost('api.example.com'), 'allow');
    assert.equal(list.checkHost('API.Example.COM.'), 'allow', 'case and the root dot do not matter');
    assert.equal(list.checkHost('x.api.example.com'), 'resolve', 'an exact entry does not cover sub-domains');
    assert.equal(list.checkHost('a.corp.example.net'), 'allow');
    assert.equal(list.checkHost('a.b.corp.example.net'), 'allow');
    assert.equal(list.checkHost('corp.example.net'), 'resolve', 'a wildcard does not cover the domain itself');
    assert.equal(list.checkHost('evilcorp.example.net'), 'resolve');
    assert.equal(list.checkHost('10.1.2.3'), 'allow');
    assert.equal(list.checkHost('192.168.1.5'), 'allow');
    assert.equal(list.checkHost('192.168.1.6'), 'deny');
    assert.equal(list.checkHost('127.0.0.1'), 'deny');
    assert.equal(list.checkHost('169.254.169.254'), 'deny');
    assert.equal(list.checkHost('[fd12::1]'), 'allow');
    assert.equal(list.checkHost('[::1]'), 'deny');
    assert.equal(list.checkHost('[::ffff:a00:1]'), 'allow', 'IPv4-mapped 10.0.0.1');
    assert.equal(list.checkHost('[::ffff:7f00:1]'), 'deny', 'IPv4-mapped 127.0.0.1');
    assert.equal(list.allowsAddress('10.255.255.255'), true);
    assert.equal(list.allowsAddress('11.0.0.0'), false);
    assert.equal(list.allowsAddress('not-an-ip'), false);
  });

  test('without address entries a name outside the host entries is denied outright, no resolution', () => {
    const list = HttpAllowedTargets.parse('*.example.com');
    assert.equal(list.hasAddressEntries, false);
    assert.equal(list.checkHost('hooks.example.com'), 'allow');
    assert.equal(list.checkHost('localhost'), 'deny');
    assert.equal(list.checkHost('127.0.0.1'), 'deny');
  });

  test('URLs normalised by WHATWG (hex, integer IPv4) are judged by the address they mean', () => {
    const list = HttpAllowedTargets.parse('*.example.com');
    for (const url of ['http://0x7f.1/', 'http://2130706433/', 'http://[::ffff:127.0.0.1]/']) {
      assert.equal(list.violations(http(url)).length, 1, url);
    }
  });

  test('violations name task.action.http.url-relative field; other actions and unparsable URLs pass through', () => {
    const list = HttpAllowedTargets.parse('hooks.example.com');
    assert.deepEqual(list.violations(http('https://hooks.example.com/x')), []);
    const [v] = list.violations(http('http://metadata.internal/latest'));
    assert.equal(v?.field, 'action.http.url');
    assert.match(v!.description, /"metadata\.internal" is not an allowed HTTP target \(CRONPLANE_HTTP_ALLOWED_TARGETS\)/);
    assert.deepEqual(list.violations(http('not a url')), []);
    assert.deepEqual(list.violations({ kind: 'natsPublish', subject: 'a', payload: new Uint8Array(), headers: {}, jetstream: false }), []);
  });

  test('bad entries are refused with the entry named', () => {
    for (const [text, pattern] of [
      ['', /no entries/],
      ['*', /everything/],
      ['10.0.0.0/33', /prefix length/],
      ['fd00::/129', /prefix length/],
      ['example.com:8080', /port/],
      ['exa mple.com', /not a host name/],
      ['*.*.example.com', /not a host name/],
      ['-bad.example.com', /not a host name/],
      ['foo/8', /neither/],
    ] as const) {
      assert.throws(() => HttpAllowedTargets.parse(text), pattern, text);
    }
  });
});

describe('the allowlist at CreateTask / UpdateTask (ControlPlane validateAction)', () => {
  test('a refused target is an INVALID_ARGUMENT violation on task.action.http.url, next to the built-in ones', async () => {
    const list = HttpAllowedTargets.parse('hooks.example.com');
    // Validation happens before the store or the engine are touched.
    const api = new ControlPlane({ store: {} as Store, engine: {} as Engine, clock: systemClock, watch: () => [] as never, validateAction: (a) => list.violations(a) });
    const spec = { ...emptyTaskSpec('bad-target'), schedule: { cron: '* * * * *', timeZone: '' }, action: http('http://10.0.0.7/admin'), description: 'x'.repeat(2000) };
    await assert.rejects(api.createTask(spec, { requestId: 'r', principal: '', createRequestId: '' }), (err: unknown) => {
      assert.ok(err instanceof InvalidArgumentError);
      assert.deepEqual(err.violations.map((v) => v.field).sort(), ['task.action.http.url', 'task.description']);
      return true;
    });
  });
});

describe('runHttp with a target policy, against a loopback server', () => {
  let server: Server;
  let port = 0;
  let hits = 0;
  before(async () => {
    server = createServer((_req, res) => {
      hits++;
      res.writeHead(200, { 'content-type': 'text/plain' }).end('hello');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const context = (): ActionContext => ({ runHeaders: { 'Cronplane-Task': 't' }, signal: AbortSignal.timeout(5_000), timeoutMs: 5_000 });

  test('no policy: anything goes', async () => {
    assert.equal((await runHttp(http(`http://127.0.0.1:${port}/`), context())).output, 'hello');
  });

  test('an IP literal outside the list is refused before any connection', async () => {
    const before = hits;
    const targets = HttpAllowedTargets.parse('10.0.0.0/8');
    await assert.rejects(runHttp(http(`http://127.0.0.1:${port}/`), context(), { targets }), (err: unknown) => {
      assert.ok(err instanceof ActionFailedError);
      assert.match(err.message, /refused: host "127\.0\.0\.1" is not an allowed HTTP target/);
      return true;
    });
    assert.equal(hits, before, 'the server saw nothing');
  });

  test('a name is resolved and its address checked: localhost is refused under 10.0.0.0/8, allowed under 127.0.0.0/8', async () => {
    const before = hits;
    await assert.rejects(runHttp(http(`http://localhost:${port}/`), context(), { targets: HttpAllowedTargets.parse('10.0.0.0/8') }), (err: unknown) => {
      assert.ok(err instanceof ActionFailedError);
      assert.match(err.message, /host "localhost" resolves to .*127\.0\.0\.1.*not an allowed HTTP target/);
      return true;
    });
    assert.equal(hits, before, 'the server saw nothing');
    const ok = await runHttp(http(`http://localhost:${port}/`), context(), { targets: HttpAllowedTargets.parse('127.0.0.0/8, ::1') });
    assert.equal(ok.output, 'hello');
    assert.equal(hits, before + 1);
  });

  test('a host entry allows the name without looking at its address', async () => {
    const ok = await runHttp(http(`http://localhost:${port}/`), context(), { targets: HttpAllowedTargets.parse('localhost') });
    assert.equal(ok.output, 'hello');
  });
});
