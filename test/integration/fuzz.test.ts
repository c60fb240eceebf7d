import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { create, equals, ScalarType, toBinary, type DescEnum, type DescField, type DescMessage, type DescMethod } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { SignJWT } from 'jose';
import { pino } from 'pino';
import { createSchedulerClient, type SchedulerClient } from '../../src/client/scheduler-client.js';
import { loadConfig } from '../../src/config/config.js';
import { encodePageToken } from '../../src/domain/page-token.js';
import { SchedulerService } from '../../src/gen/cronplane/v1/scheduler_service_pb.js';
import { TaskSchema, type Task } from '../../src/gen/cronplane/v1/task_pb.js';
import { badRequestFromMetadata } from '../../src/grpc/error-mapping.js';
import { startService, type Service } from '../../src/main.js';
import { NATS_URL, uniquePrefix } from '../helpers/service-harness.js';

/**
 * Thousands of random and malformed requests through real gRPC, from a seeded PRNG (set
 * CRONPLANE_FUZZ_SEED to replay a failure; CRONPLANE_FUZZ_REQUESTS to change the count;
 * CRONPLANE_FUZZ_DEBUG=1 lists requests slower than 300 ms).
 * Every answer must be OK or a deliberate status, never INTERNAL / UNKNOWN (a server bug) nor
 * UNAVAILABLE / DEADLINE_EXCEEDED on a unary call (a crash or a hang); the service must still
 * answer afterwards and every task stored before must be exactly as it was.
 */
const SEED = Number(process.env['CRONPLANE_FUZZ_SEED'] ?? 20260501);
const REQUESTS = Number(process.env['CRONPLANE_FUZZ_REQUESTS'] ?? 3000);
const DEBUG = process.env['CRONPLANE_FUZZ_DEBUG'] === '1';
const CONCURRENCY = 8;
const SECRET = 'fuzz-test-secret-long-enough-for-hs256-ok';

// --- a seeded PRNG ------------------------------------------------------------------------

class Rng {
  constructor(private state: number) {}
  /** mulberry32: small, fast, good enough to spread inputs; reproducible from the seed. */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = Math.imul(this.state ^ (this.state >>> 15), 1 | this.state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
  printable(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCharCode(0x20 + this.int(95));
    return s;
  }
}

// --- interesting values -------------------------------------------------------------------

const INT32 = [0, 1, -1, 7, 1000, 1001, 2147483647, -2147483648, 65535];
const UINT32 = [0, 1, 4294967295, 2147483648];
const INT64 = [0n, 1n, -1n, 9223372036854775807n, -9223372036854775808n, 2n ** 53n, 2n ** 53n + 1n, -(2n ** 53n)];
const UINT64 = [0n, 1n, 18446744073709551615n, 2n ** 53n + 1n];
const DOUBLES = [0, -0, 0.5, -1, 1e308, -1e308, 5e-324, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 100, 101];
const FLOATS = [0, 0.5, -1, 3.4e38, Number.NaN, Number.POSITIVE_INFINITY];
/** Seconds at the edges: year 0, year 1, 1970, 9999-12-31T23:59:59, just past it, the Duration maximum, int64 ends, Date's range. */
const SECONDS = [
  0n, 1n, -1n, -62167219200n, -62135596800n, 253402300799n, 253402300800n, 315576000000n, 315576000001n, -315576000001n,
  9223372036854775807n, -9223372036854775808n, 2n ** 53n, 1n << 40n, 8_640_000_000_000n, 8_640_000_000_001n, -8_640_000_000_001n, 9_000_000_000_000n,
];
const NANOS = [0, 1, 999999999, 1000000000, -1, -999999999, 2147483647, -2147483648, 500000000];
const ODD_STRINGS = ['', ' ', 'kept', 'fz-1', 'a', '-a', 'A', 'ñ', '😀', '\u0000', 'a\u0000b', '\u202e', '\r\n', '../../etc/passwd', '*', '>', 'a.b.*', '%%%', 'null', '{}', '\\', '"', "'", 'labels.team=x', 'state=PAUSED AND', '0'];
const CRONS = [
  '* * * * *', '* * * * * *', '0 0 1 1 *', '0 0 30 2 *', '0 0 32 * *', '60 * * * *', '*/0 * * * *', '@yearly', '@hourly', '@reboot', '@every 5s',
  '0 0 L * *', '0 0 LW * *', '0 0 * * 5L', '0 0 * * MON#2', '0 0 * * MON#6', '0 0 ? * *', '0 0 1 1 * 1970', '0 0 1 1 * 9999', '0 0 1 1 * 2100-2099',
  '* * * * * * * *', '', '   ', 'nope', '1-0 * * * *', '0-59/999999999999 * * * *', '5/15 * * * * *', `${'1,'.repeat(5000)}1 * * * *`, '*/'.repeat(2000),
  '0 0 29 2 *', '0 0 31 4 *', '\u0000 * * * *', 'L L L L L', '# # # # #',
];
const VALID_CRONS = ['0 0 1 1 *', '*/5 * * * * *', '@hourly', '0 30 2 * * *', '0 0 L * *', '0 9 * * MON-FRI', '*/2 * * * * *'];
const ZONES = ['', 'UTC', 'Europe/Berlin', 'America/New_York', 'Mars/Olympus', 'Etc/GMT+14', 'Etc/GMT-15', '+05:30', 'utc', 'x'.repeat(10000), '../../etc/localtime', 'Europe/Berlin\u0000'];
const URLS = [
  'http://127.0.0.1:9/hook', 'http://localhost:9/x', 'https://10.0.0.1/admin', 'http://169.254.169.254/latest/meta-data/', 'http://[::1]:9/', 'http://0x7f.1:9/',
  'ftp://127.0.0.1/', 'http://user:pw@127.0.0.1/', 'not a url', '', `http://127.0.0.1:9/${'a'.repeat(9000)}`, 'http://example.invalid/', 'javascript:alert(1)',
];
const MASK_PATHS = ['schedule', 'schedule.cron', 'action', 'description', 'labels', 'labels.team', 'retry_policy.max_attempts', 'retry_policy', 'state', 'create_time', 'etag', 'name', '', 'foo', 'a.b.c', 'attempt_deadline'];

// --- generators ---------------------------------------------------------------------------

/** `small`: for elements of lists and maps, where thousands of huge strings would only test the test machine. */
function randomString(rng: Rng, small = false): string {
  switch (rng.int(6)) {
    case 0: return rng.pick(ODD_STRINGS);
    case 1: return rng.printable(rng.int(80));
    case 2: return 'x'.repeat(small ? rng.pick([64, 257, 300]) : rng.pick([64, 300, 1025, 8193, 70_000, 1_100_000]));
    case 3: return `fz-${rng.int(45)}`;
    case 4: return String.fromCodePoint(...Array.from({ length: rng.int(20) }, () => rng.pick([0x41, 0xe9, 0x4e2d, 0x1f600, 0x0, 0x7f, 0xfffd, 0x202e])));
    default: return rng.pick(CRONS);
  }
}

function scalarValue(rng: Rng, type: ScalarType, small = false): unknown {
  switch (type) {
    case ScalarType.STRING: return randomString(rng, small);
    case ScalarType.BYTES: return rng.bytes(small ? rng.int(20) : rng.pick([0, 1, 16, 1000, 70_000, 1_100_000]));
    case ScalarType.BOOL: return rng.chance(0.5);
    case ScalarType.DOUBLE: return rng.pick(DOUBLES);
    case ScalarType.FLOAT: return rng.pick(FLOATS);
    case ScalarType.INT32: case ScalarType.SINT32: case ScalarType.SFIXED32: return rng.pick(INT32);
    case ScalarType.UINT32: case ScalarType.FIXED32: return rng.pick(UINT32);
    case ScalarType.UINT64: case ScalarType.FIXED64: return rng.pick(UINT64);
    default: return rng.pick(INT64);
  }
}

function enumValue(rng: Rng, desc: DescEnum): number {
  return rng.chance(0.6) ? rng.pick(desc.values).number : rng.pick([-1, 5, 99, 2147483647, -2147483648]);
}

/** A random init object for any message: every field kind, boundary numbers, huge strings and maps. */
function randomInit(rng: Rng, desc: DescMessage, depth = 0): Record<string, unknown> {
  if (desc.typeName === 'google.protobuf.Duration' || desc.typeName === 'google.protobuf.Timestamp') {
    return { seconds: rng.pick(SECONDS), nanos: rng.pick(NANOS) };
  }
  const init: Record<string, unknown> = {};
  for (const member of desc.members) {
    if (!rng.chance(depth === 0 ? 0.8 : 0.5)) continue;
    if (member.kind === 'oneof') {
      const field = rng.pick(member.fields);
      const value = fieldValue(rng, field, depth);
      if (value !== undefined) init[member.localName] = { case: field.localName, value };
    } else {
      const value = fieldValue(rng, member, depth);
      if (value !== undefined) init[member.localName] = value;
    }
  }
  return init;
}

function fieldValue(rng: Rng, field: DescField, depth: number): unknown {
  switch (field.fieldKind) {
    case 'scalar': return scalarValue(rng, field.scalar);
    case 'enum': return enumValue(rng, field.enum);
    case 'message': return depth > 3 ? undefined : randomInit(rng, field.message, depth + 1);
    case 'list': {
      const n = rng.pick([0, 1, 3, 50, 2000]);
      return Array.from({ length: n }, () => {
        if (field.listKind === 'scalar') return scalarValue(rng, field.scalar, true);
        if (field.listKind === 'enum') return enumValue(rng, field.enum);
        return depth > 3 ? {} : randomInit(rng, field.message, depth + 1);
      });
    }
    case 'map': {
      const n = rng.pick([0, 1, 5, 65, 300, 20_000]);
      const map: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) {
        const key = field.mapKey === ScalarType.STRING ? (rng.chance(0.7) ? `k${i}` : randomString(rng, true)) : String(i);
        map[key] = field.mapKind === 'scalar' ? scalarValue(rng, field.scalar, true) : field.mapKind === 'enum' ? enumValue(rng, field.enum) : {};
      }
      return map;
    }
  }
}

function varint(value: bigint): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, value);
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) byte |= 0x80;
    out.push(byte);
  } while (v !== 0n);
  return out;
}

/** Hand-made wire bytes: right field numbers with the wrong wire types, bad lengths, overlong varints, deep groups. */
function randomWire(rng: Rng): Uint8Array {
  const out: number[] = [];
  const fields = rng.int(8) + 1;
  for (let i = 0; i < fields; i++) {
    const field = rng.chance(0.85) ? rng.int(25) + 1 : rng.pick([0, 19000, 536870911]);
    const wireType = rng.pick([0, 1, 2, 2, 3, 4, 5, 6, 7]);
    out.push(...varint(BigInt((field << 3) | wireType)));
    switch (wireType) {
      case 0: out.push(...(rng.chance(0.1) ? [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01] : varint(rng.pick(INT64)))); break;
      case 1: out.push(...rng.bytes(rng.chance(0.9) ? 8 : rng.int(8))); break;
      case 5: out.push(...rng.bytes(rng.chance(0.9) ? 4 : rng.int(4))); break;
      case 2: {
        const body = rng.bytes(rng.int(40));
        const claimed = rng.chance(0.8) ? body.length : rng.pick([body.length + 5, 2 ** 31, 2 ** 35]);
        out.push(...varint(BigInt(claimed)), ...body);
        break;
      }
      case 3: {
        // Deeply nested groups: a recursive skipper must not take the process down.
        const depth = rng.pick([1, 10, 5000, 200_000]);
        for (let d = 0; d < depth; d++) out.push(...varint(BigInt((1 << 3) | 3)));
        if (rng.chance(0.5)) for (let d = 0; d < depth; d++) out.push(...varint(BigInt((1 << 3) | 4)));
        break;
      }
      default: break;
    }
  }
  return Uint8Array.from(out);
}

function mutate(rng: Rng, bytes: Uint8Array): Uint8Array {
  const out = Array.from(bytes);
  const edits = rng.int(6) + 1;
  for (let i = 0; i < edits && out.length > 0; i++) {
    const at = rng.int(out.length);
    switch (rng.int(4)) {
      case 0: out[at] = rng.int(256); break;
      case 1: out.splice(at, 1); break;
      case 2: out.splice(at, 0, rng.int(256)); break;
      default: out.length = at; break;
    }
  }
  return Uint8Array.from(out);
}

const ts = (rng: Rng) => ({ seconds: rng.pick(SECONDS), nanos: rng.pick(NANOS) });
const dur = (rng: Rng) => rng.pick([{ seconds: 1n }, { seconds: 0n }, { seconds: -5n }, { seconds: 1801n }, { seconds: 86401n }, ts(rng)]);

/** Near-valid requests that get past decoding into validation, the store and the engine. */
function semanticInit(rng: Rng, method: DescMethod, names: () => string[], keptTasks: Map<string, Task>, mayTouchKept: boolean): Record<string, unknown> | undefined {
  // A request for a kept task is only ever one that must fail (stale etag, name taken). Bytes
  // mutated afterwards could turn it into a legitimate change, so mutations leave them alone.
  const kept = mayTouchKept ? keptTasks : new Map<string, Task>([['fz-0', undefined as never]]);
  const name = () => (rng.chance(0.7) ? rng.pick(names()) : randomString(rng));
  // Mostly valid, one odd field now and then: enough requests pass validation to reach the
  // store, the engine and the task limit.
  const odd = <T>(valid: T, weird: () => T, p = 0.06): T => (rng.chance(p) ? weird() : valid);
  const task = (taskName: string) => ({
    name: taskName,
    description: odd('fuzzed', () => 'd'.repeat(rng.pick([1024, 1025, 100_000]))),
    schedule: { cron: odd(rng.pick(VALID_CRONS), () => rng.pick(CRONS), 0.3), timeZone: odd(rng.pick(['', 'Europe/Berlin']), () => rng.pick(ZONES)) },
    action: odd<object | undefined>(
      rng.pick([
        { kind: { case: 'natsPublish', value: { subject: 'fz.subject', payload: rng.bytes(10), headers: { 'x-ok': 'v' } } } },
        { kind: { case: 'natsRequest', value: { subject: 'fz.req' } } },
        { kind: { case: 'http', value: { url: 'http://127.0.0.1:9/hook', method: 'POST' } } },
      ]),
      () => rng.pick([
        { kind: { case: 'natsPublish', value: { subject: rng.pick(['a..b', 'a.*', '', 'x'.repeat(300)]), payload: rng.bytes(rng.pick([0, 1_048_577])), headers: { 'Cronplane-Task': 'x', 'bad header': 'v', 'x-crlf': 'a\r\nb' } } } },
        { kind: { case: 'http', value: { url: rng.pick(URLS), method: rng.pick(['', 'GET', 'post', 'TRACE', 'CONNECT', 'x'.repeat(100)]), body: rng.bytes(rng.pick([0, 5])), successCodes: rng.chance(0.5) ? [99, 600, 200, -1] : [] } } },
        {},
        undefined,
      ]),
      0.25,
    ),
    state: odd(rng.pick([0, 1, 2]), () => rng.pick([3, -1, 99])),
    labels: odd<Record<string, string>>({ team: 'fz' }, () => Object.fromEntries(Array.from({ length: rng.pick([65, 10, 1000]) }, (_, i) => [rng.chance(0.9) ? `k${i}` : `K ${i}`, rng.chance(0.9) ? 'v' : 'v'.repeat(257)]))),
    attemptDeadline: odd<object | undefined>(undefined, () => dur(rng)),
    retryPolicy: odd<object | undefined>(rng.chance(0.5) ? undefined : { maxAttempts: 2 }, () => ({ maxAttempts: rng.pick(INT32), initialBackoff: dur(rng), maxBackoff: dur(rng), multiplier: rng.pick(DOUBLES), jitter: rng.pick(DOUBLES) })),
    overlapPolicy: odd(rng.pick([0, 1, 2, 3, 4]), () => rng.pick([77, -1])),
    misfirePolicy: odd(rng.pick([0, 1, 2, 3]), () => rng.pick([77, -1])),
    catchupWindow: odd<object | undefined>(undefined, () => dur(rng)),
    startTime: odd<object | undefined>(undefined, () => ts(rng)),
    endTime: odd<object | undefined>(undefined, () => ts(rng)),
    maxRuns: odd(0n, () => rng.pick(INT64)),
    pauseAfterFailures: odd(0, () => rng.pick(INT32)),
  });
  switch (method.localName) {
    case 'createTask':
      // A kept name can only collide (ALREADY_EXISTS); fuzz names make new tasks up to the limit.
      return { task: task(rng.chance(0.1) ? rng.pick([...kept.keys()]) : name()), requestId: rng.chance(0.5) ? '' : rng.printable(20) };
    case 'updateTask': {
      // Kept tasks only ever get a stale etag: ABORTED, never a change.
      if (rng.chance(0.3)) return { task: task(rng.pick([...kept.keys()])), etag: rng.pick(['stale', '0', 'x'.repeat(200)]), updateMask: { paths: [rng.pick(MASK_PATHS)] } };
      return { task: task(name()), updateMask: rng.chance(0.3) ? undefined : { paths: Array.from({ length: rng.int(4) }, () => rng.pick(MASK_PATHS)) }, etag: rng.chance(0.8) ? '' : 'stale' };
    }
    case 'deleteTask':
      return rng.chance(0.3) ? { name: rng.pick([...kept.keys()]), etag: 'stale' } : { name: name(), etag: rng.chance(0.8) ? '' : 'stale' };
    case 'getTask': return { name: rng.chance(0.3) ? rng.pick([...kept.keys()]) : name() };
    case 'pauseTask': return { name: name(), reason: randomString(rng) };
    case 'resumeTask': case 'runTask': return { name: name() };
    case 'listTasks':
      return {
        pageSize: rng.pick(INT32),
        pageToken: rng.pick(['', '%%%', 'AAAA', encodePageToken({ after: 'fz-1' }), encodePageToken({ after: 5 }), Buffer.from('[1,2]').toString('base64url'), 'e'.repeat(5000)]),
        filter: rng.pick(['', 'state=PAUSED', 'state=BOGUS', 'labels.team=fz AND name=fz-*', 'name=*', 'labels.=x', 'AND AND', '(', 'labels.k\u0000=v', randomString(rng)]),
      };
    case 'listExecutions':
      return { taskName: name(), states: Array.from({ length: rng.int(4) }, () => rng.pick([0, 1, 3, 10, 11, -1, 999])), pageSize: rng.pick(INT32), pageToken: rng.pick(['', '%%%', encodePageToken({ before: 'zz' }), encodePageToken({ before: 1 })]) };
    case 'getExecution': case 'cancelExecution': return { id: rng.pick(['', '01890000-0000-7000-8000-000000000000', randomString(rng)]) };
    case 'previewSchedule':
      return { schedule: rng.chance(0.9) ? { cron: rng.pick(CRONS), timeZone: rng.pick(ZONES) } : undefined, startTime: rng.chance(0.5) ? undefined : ts(rng), count: rng.pick([...INT32, 10, 999]) };
    case 'watchExecutions':
      return { taskNames: rng.chance(0.5) ? [] : [name(), randomString(rng)], states: rng.chance(0.7) ? [] : [rng.pick([0, 3, 10, 99])], afterSequence: rng.pick(UINT64) };
    default:
      return undefined;
  }
}

// --- the service and its raw client ---------------------------------------------------------

type Outcome = { code: grpc.status; details: string; metadata?: grpc.Metadata };

const pass = (b: Buffer) => b;

function callUnary(client: grpc.Client, path: string, body: Uint8Array, metadata: grpc.Metadata): Promise<Outcome> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength), pass, body, metadata, { deadline: Date.now() + 15_000 }, (err) => {
      resolve(err === null ? { code: grpc.status.OK, details: '' } : { code: err.code, details: err.details, metadata: err.metadata });
    });
  });
}

function callStream(client: grpc.Client, path: string, body: Uint8Array, metadata: grpc.Metadata): Promise<Outcome> {
  return new Promise((resolve) => {
    const stream = client.makeServerStreamRequest(path, (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength), pass, body, metadata, { deadline: Date.now() + 150 });
    stream.on('data', () => undefined);
    stream.on('status', (s: grpc.StatusObject) => resolve({ code: s.code, details: s.details, metadata: s.metadata }));
    stream.on('error', () => undefined);
  });
}

/** Statuses the service itself must never give a client's input. */
const BUG_CODES = new Set([grpc.status.INTERNAL, grpc.status.UNKNOWN, grpc.status.UNIMPLEMENTED, grpc.status.DATA_LOSS]);
/** Fine for a watch that was still streaming when the test hung up; a crash or hang on a unary call. */
const STREAM_ONLY = new Set([grpc.status.DEADLINE_EXCEEDED, grpc.status.CANCELLED]);

describe(`fuzzing every RPC through real gRPC (seed ${SEED}, ${REQUESTS} requests)`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'cronplane-fuzz-'));
  let service: Service;
  let client: SchedulerClient;
  let raw: grpc.Client;
  let token: string;
  const errorLines: Record<string, unknown>[] = [];
  const kept = new Map<string, Task>();

  before(async () => {
    const config = loadConfig([], {
      CRONPLANE_GRPC_ADDR: '127.0.0.1:0',
      CRONPLANE_HTTP_ADDR: '127.0.0.1:0',
      CRONPLANE_STORE: `sqlite:${join(dir, 'cronplane.db')}`,
      CRONPLANE_NATS_URL: NATS_URL,
      CRONPLANE_SUBJECT_PREFIX: uniquePrefix(),
      CRONPLANE_NODE_NAME: 'fuzz',
      CRONPLANE_SHUTDOWN_GRACE: '200ms',
      CRONPLANE_JWT_SECRET: SECRET,
      CRONPLANE_MAX_TASKS: '20',
      CRONPLANE_HTTP_ALLOWED_TARGETS: '127.0.0.1/32, ::1',
    });
    const log = pino({ level: 'error' }, { write: (s: string) => void errorLines.push(JSON.parse(s) as Record<string, unknown>) });
    service = await startService(config, { log });
    token = await new SignJWT({ sub: 'fuzzer', scope: 'cronplane.write' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
    client = createSchedulerClient(`127.0.0.1:${service.grpcPort}`, { token });
    raw = new grpc.Client(`127.0.0.1:${service.grpcPort}`, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': -1, 'grpc.max_receive_message_length': -1 });

    // Tasks that must come out of the fuzz exactly as they went in.
    const specs = [
      { name: 'keep-a', schedule: { cron: '0 0 1 1 *' }, action: { kind: { case: 'natsPublish' as const, value: { subject: 'keep.a', payload: new Uint8Array([1, 2, 3]), headers: { 'x-h': 'v' } } } }, labels: { team: 'fz', tier: '1' } },
      { name: 'keep-b', schedule: { cron: '30 4 1 1 *', timeZone: 'Europe/Berlin' }, action: { kind: { case: 'http' as const, value: { url: 'http://127.0.0.1:9/keep', method: 'PUT', successCodes: [202] } } }, retryPolicy: { maxAttempts: 3 } },
      { name: 'keep-c', schedule: { cron: '0 0 0 1 1 *' }, action: { kind: { case: 'natsRequest' as const, value: { subject: 'keep.c' } } }, description: 'paused on purpose' },
    ];
    for (const spec of specs) await client.createTask({ task: spec });
    await client.pauseTask({ name: 'keep-c', reason: 'kept paused' });
    for (const spec of specs) kept.set(spec.name, (await client.getTask({ name: spec.name })).task!);
  });

  after(async () => {
    raw?.close();
    client?.close();
    await service?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a precise limit: an HTTP target outside CRONPLANE_HTTP_ALLOWED_TARGETS is INVALID_ARGUMENT on task.action.http.url', async () => {
    const err = await client.createTask({ task: { name: 'to-metadata', schedule: { cron: '0 0 1 1 *' }, action: { kind: { case: 'http', value: { url: 'http://169.254.169.254/latest' } } } } }).catch((e: grpc.ServiceError) => e);
    assert.ok(err instanceof Error);
    assert.equal((err as grpc.ServiceError).code, grpc.status.INVALID_ARGUMENT);
    assert.deepEqual(badRequestFromMetadata((err as grpc.ServiceError).metadata).map((v) => v.field), ['task.action.http.url']);
  });

  test('random bytes, random messages, wrong wire types, boundary numbers, huge strings and maps: only deliberate statuses', async (t) => {
    const methods = SchedulerService.methods;
    // Fuzz-made tasks come from this pool, so later requests find real tasks to change and run.
    const pool = Array.from({ length: 40 }, (_, i) => `fz-${i}`);
    const names = () => pool;
    const counts = new Map<string, number>();
    const bugs: string[] = [];
    const started = Date.now();

    const one = async (i: number) => {
      // Each request's input depends on the seed and its index only, whatever the concurrency.
      const rng = new Rng(Math.imul(SEED, 0x9e3779b1) ^ Math.imul(i + 1, 0x85ebca6b));
      const method = rng.pick(methods);
      const kind = rng.pick(['bytes', 'message', 'message', 'semantic', 'semantic', 'semantic', 'wire', 'mutation'] as const);
      let body: Uint8Array;
      if (kind === 'bytes') {
        body = rng.bytes(rng.pick([0, 1, 2, 5, 17, 100, 1000, 20_000]));
      } else if (kind === 'wire') {
        body = randomWire(rng);
      } else {
        const init = kind === 'message' ? randomInit(rng, method.input) : (semanticInit(rng, method, names, kept, kind !== 'mutation') ?? randomInit(rng, method.input));
        try {
          body = toBinary(method.input, create(method.input, init as never));
        } catch {
          // protobuf-es refuses values it cannot encode (a generator slip): send random bytes instead.
          body = rng.bytes(rng.int(200));
        }
        if (kind === 'mutation') body = mutate(rng, body);
      }
      const metadata = new grpc.Metadata();
      const auth = rng.next();
      if (auth < 0.9) metadata.set('authorization', `Bearer ${token}`);
      else if (auth < 0.95) metadata.set('authorization', rng.pick(['Bearer', 'Bearer x.y.z', `Bearer ${token}x`, 'Basic abc', `Bearer ${rng.printable(300).replace(/\s/g, '')}`]));
      if (rng.chance(0.3)) metadata.set('x-request-id', rng.pick(['', 'req-1', rng.printable(rng.int(300))]));
      const path = `/${SchedulerService.typeName}/${method.name}`;
      const t0 = Date.now();
      const outcome = method.methodKind === 'server_streaming' ? await callStream(raw, path, body, metadata) : await callUnary(raw, path, body, metadata);
      if (DEBUG && Date.now() - t0 > 300) t.diagnostic(`slow #${i} ${method.name} ${kind} ${body.byteLength}B ${Date.now() - t0}ms ${grpc.status[outcome.code]} ${outcome.details.slice(0, 100)}`);
      const key = `${method.name} ${grpc.status[outcome.code]}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      const bad = BUG_CODES.has(outcome.code) || outcome.code === grpc.status.UNAVAILABLE || (STREAM_ONLY.has(outcome.code) && method.methodKind !== 'server_streaming');
      if (bad) bugs.push(`#${i} ${method.name} (${kind}, ${body.byteLength} bytes): ${grpc.status[outcome.code]} ${outcome.details}`);
    };

    let next = 0;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < REQUESTS) await one(next++);
    }));

    const summary = [...counts.entries()].sort().map(([k, n]) => `${k}: ${n}`).join('\n');
    t.diagnostic(`${REQUESTS} requests in ${Date.now() - started} ms, seed ${SEED}`);
    for (const line of summary.split('\n')) t.diagnostic(line);
    assert.deepEqual(bugs.slice(0, 20), [], `server bugs (replay with CRONPLANE_FUZZ_SEED=${SEED})`);
    const unexpected = errorLines.filter((l) => l['msg'] === 'rpc failed with an unexpected error');
    assert.deepEqual(unexpected.slice(0, 5), [], 'no unexpected error behind any answer');
    assert.ok(counts.size > 30, 'the fuzz reached many (method, status) pairs');
    assert.ok([...counts.keys()].some((k) => k.endsWith(' OK')), 'some requests got through');
  });

  test('afterwards the service answers and every task stored before is intact (same etag and fields)', async () => {
    for (const [name, before] of kept) {
      const now = (await client.getTask({ name })).task!;
      const strip = (t: Task) => {
        const copy = create(TaskSchema, t);
        copy.nextRunTimes = [];
        copy.lastExecution = undefined;
        return copy;
      };
      assert.equal(now.etag, before.etag, `${name}: etag`);
      assert.ok(equals(TaskSchema, strip(now), strip(before)), `${name}: fields changed`);
    }
    const list = await client.listTasks({ filter: 'name=keep-*' });
    assert.deepEqual(list.tasks.map((t) => t.name), ['keep-a', 'keep-b', 'keep-c']);

    // The task limit (CRONPLANE_MAX_TASKS=20) holds whatever the fuzz left behind.
    let refusal: grpc.ServiceError | undefined;
    for (let i = 0; i < 25 && refusal === undefined; i++) {
      await client.createTask({ task: { name: `after-${i}`, schedule: { cron: '0 0 1 1 *' }, action: { kind: { case: 'natsPublish', value: { subject: 'after' } } } } })
        .catch((err: grpc.ServiceError) => { refusal = err; });
    }
    assert.equal(refusal?.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.match(refusal!.details, /maximum of 20 tasks/);
  });
});
