import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Socket } from 'node:net';
import { Readable } from 'node:stream';

/**
 * A small RESP2 client that satisfies BullMQ 6's `IRedisClient` contract, so the BullMQ peer
 * can run when neither `ioredis` nor `redis` is installed (bullmq 6 lists both as optional
 * peer dependencies; this repository installs neither). Pipelined, one socket per instance,
 * replies in order. When `ioredis` is installed the BullMQ peer uses it instead.
 */

type Arg = string | number | Buffer;
type Reply = string | number | null | Error | Reply[];

interface Pending {
  resolve: (value: Reply) => void;
  reject: (err: Error) => void;
}

interface Script {
  sha: string;
  lua: string;
  numberOfKeys: number;
}

const CLOSED = 'Connection is closed.';
const CRLF = Buffer.from('\r\n');

function encode(args: Arg[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, CRLF);
  }
  return Buffer.concat(parts);
}

/** Parse one RESP2 value at `pos`; undefined when the buffer does not hold all of it yet. */
function parse(buf: Buffer, pos: number): [Reply, number] | undefined {
  if (pos >= buf.length) return undefined;
  const end = buf.indexOf('\r\n', pos);
  if (end < 0) return undefined;
  const type = buf[pos];
  const line = buf.toString('utf8', pos + 1, end);
  switch (type) {
    case 0x2b: // +
      return [line, end + 2];
    case 0x2d: // -
      return [new Error(line), end + 2];
    case 0x3a: // :
      return [Number(line), end + 2];
    case 0x24: { // $
      const len = Number(line);
      if (len < 0) return [null, end + 2];
      if (buf.length < end + 2 + len + 2) return undefined;
      return [buf.toString('utf8', end + 2, end + 2 + len), end + 2 + len + 2];
    }
    case 0x2a: { // *
      const n = Number(line);
      if (n < 0) return [null, end + 2];
      const out: Reply[] = [];
      let p = end + 2;
      for (let i = 0; i < n; i++) {
        const r = parse(buf, p);
        if (r === undefined) return undefined;
        out.push(r[0]);
        p = r[1];
      }
      return [out, p];
    }
    default:
      throw new Error(`RESP: unexpected type byte ${type}`);
  }
}

function scriptArgs(args: unknown[]): Arg[] {
  const list = args.length === 1 && Array.isArray(args[0]) ? (args[0] as unknown[]) : args;
  return list.map((a) => (Buffer.isBuffer(a) ? a : a === undefined || a === null ? '' : String(a)));
}

function toObject(flat: Reply): Record<string, string> {
  const out: Record<string, string> = {};
  if (!Array.isArray(flat)) return out;
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = String(flat[i + 1]);
  return out;
}

export interface RespOptions {
  host?: string;
  port?: number;
  connectionName?: string;
}

export class RespRedisClient extends EventEmitter {
  status = 'wait';
  readonly isCluster = false;
  options: Record<string, unknown>;
  private socket: Socket | undefined;
  private readonly pending: Pending[] = [];
  private readonly queuedWrites: Buffer[] = [];
  private buffer: Buffer = Buffer.alloc(0);
  private readonly scripts = new Map<string, Script>();
  private connecting: Promise<void> | undefined;

  constructor(options: RespOptions = {}) {
    super();
    this.options = { host: '127.0.0.1', port: 6379, maxRetriesPerRequest: null, ...options };
    this.connect().catch(() => undefined);
  }

  connect(): Promise<void> {
    if (this.status === 'ready') return Promise.resolve();
    if (this.connecting !== undefined) return this.connecting;
    this.status = 'connecting';
    this.connecting = new Promise<void>((resolve, reject) => {
      const socket = new Socket();
      this.socket = socket;
      socket.setNoDelay(true);
      socket.on('data', (chunk: Buffer) => this.onData(chunk));
      socket.once('error', (err) => {
        this.failAll(err);
        if (this.listenerCount('error') > 0) this.emit('error', err);
        reject(err);
      });
      socket.once('close', () => {
        this.failAll(new Error(CLOSED));
        this.status = 'end';
        this.connecting = undefined;
        this.emit('close');
        this.emit('end');
      });
      socket.connect(Number(this.options['port']), String(this.options['host']), () => {
        const name = this.options['connectionName'];
        const afterName = () => {
          this.status = 'ready';
          this.connecting = undefined;
          for (const w of this.queuedWrites.splice(0)) socket.write(w);
          this.emit('connect');
          this.emit('ready');
          resolve();
        };
        if (typeof name === 'string' && name !== '') {
          this.pending.push({ resolve: afterName, reject: afterName });
          socket.write(encode(['CLIENT', 'SETNAME', name]));
        } else {
          afterName();
        }
      });
    });
    return this.connecting;
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    let pos = 0;
    for (;;) {
      const r = parse(this.buffer, pos);
      if (r === undefined) break;
      pos = r[1];
      const p = this.pending.shift();
      if (p === undefined) continue;
      if (r[0] instanceof Error) p.reject(r[0]);
      else p.resolve(r[0]);
    }
    this.buffer = pos >= this.buffer.length ? Buffer.alloc(0) : this.buffer.subarray(pos);
  }

  private failAll(err: Error): void {
    for (const p of this.pending.splice(0)) p.reject(err);
  }

  /** Send one command; resolves with its reply (an error reply rejects). */
  call(...args: Arg[]): Promise<Reply> {
    if (this.status === 'end') return Promise.reject(new Error(CLOSED));
    return new Promise<Reply>((resolve, reject) => {
      this.pending.push({ resolve, reject });
      const bytes = encode(args);
      if (this.status === 'ready' && this.socket !== undefined) this.socket.write(bytes);
      else this.queuedWrites.push(bytes);
    });
  }

  disconnect(reconnect = false): void {
    this.status = 'end';
    this.socket?.destroy();
    this.failAll(new Error(CLOSED));
    if (reconnect) {
      this.status = 'wait';
      this.connect().catch(() => undefined);
    }
  }

  async quit(): Promise<string> {
    if (this.status === 'end') return 'OK';
    try {
      await this.call('QUIT');
    } catch {
      // closing anyway
    }
    this.disconnect();
    return 'OK';
  }

  duplicate(opts?: Record<string, unknown>): RespRedisClient {
    const dup = new RespRedisClient({ ...(this.options as RespOptions), ...(opts as RespOptions | undefined) });
    for (const [name, s] of this.scripts) dup.defineCommand(name, { numberOfKeys: s.numberOfKeys, lua: s.lua });
    return dup;
  }

  defineCommand(name: string, definition: { numberOfKeys: number; lua: string }): void {
    const sha = createHash('sha1').update(definition.lua).digest('hex');
    this.scripts.set(name, { sha, lua: definition.lua, numberOfKeys: definition.numberOfKeys });
    (this as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => this.runCommand(name, args);
    this.call('SCRIPT', 'LOAD', definition.lua).catch(() => undefined);
  }

  async runCommand(name: string, args: unknown[]): Promise<Reply> {
    const script = this.scripts.get(name);
    if (script === undefined) throw new Error(`unknown command "${name}"`);
    const argv = scriptArgs(args);
    try {
      return await this.call('EVALSHA', script.sha, script.numberOfKeys, ...argv);
    } catch (err) {
      if ((err as Error).message.includes('NOSCRIPT')) return this.call('EVAL', script.lua, script.numberOfKeys, ...argv);
      throw err;
    }
  }

  multi(): RespTransaction {
    return new RespTransaction(this, this.scripts, true);
  }

  pipeline(): RespTransaction {
    return new RespTransaction(this, this.scripts, false);
  }

  async hgetall(key: string) { return toObject(await this.call('HGETALL', key)); }
  async hget(key: string, field: string) { return (await this.call('HGET', key, field)) as string | null; }
  async hmget(key: string, ...fields: string[]) { return (await this.call('HMGET', key, ...fields)) as (string | null)[]; }
  async hset(key: string, data: Record<string, string | number> | string, ...rest: Arg[]) {
    const args: Arg[] = typeof data === 'string' ? [data, ...rest] : Object.entries(data).flat();
    return (await this.call('HSET', key, ...args)) as number;
  }
  async hdel(key: string, ...fields: string[]) { return (await this.call('HDEL', key, ...fields)) as number; }
  async hexists(key: string, field: string) { return (await this.call('HEXISTS', key, field)) as number; }
  async get(key: string) { return (await this.call('GET', key)) as string | null; }
  async set(key: string, value: string | number, options?: { PX?: number; EX?: number }) {
    const extra: Arg[] = options?.PX != null ? ['PX', options.PX] : options?.EX != null ? ['EX', options.EX] : [];
    return (await this.call('SET', key, value, ...extra)) as string | null;
  }
  async del(...keys: string[]) { return keys.length === 0 ? 0 : ((await this.call('DEL', ...keys)) as number); }
  async zrange(key: string, start: number, end: number, options?: { WITHSCORES?: boolean }) {
    return (await this.call('ZRANGE', key, start, end, ...(options?.WITHSCORES ? ['WITHSCORES'] : []))) as string[];
  }
  async zrevrange(key: string, start: number, end: number, options?: { WITHSCORES?: boolean }) {
    return (await this.call('ZREVRANGE', key, start, end, ...(options?.WITHSCORES ? ['WITHSCORES'] : []))) as string[];
  }
  async zcard(key: string) { return (await this.call('ZCARD', key)) as number; }
  async zscore(key: string, member: string) { return (await this.call('ZSCORE', key, member)) as string | null; }
  async lrange(key: string, start: number, end: number) { return (await this.call('LRANGE', key, start, end)) as string[]; }
  async llen(key: string) { return (await this.call('LLEN', key)) as number; }
  async ltrim(key: string, start: number, end: number) { return (await this.call('LTRIM', key, start, end)) as string; }
  async lpos(key: string, value: string) { return (await this.call('LPOS', key, value)) as number | null; }
  async smembers(key: string) { return (await this.call('SMEMBERS', key)) as string[]; }
  async xadd(key: string, id: string, fields: Record<string, string | number>, options?: { MAXLEN?: number; approximate?: boolean }) {
    const trim: Arg[] = options?.MAXLEN != null ? ['MAXLEN', ...(options.approximate === false ? [] : ['~']), options.MAXLEN] : [];
    return (await this.call('XADD', key, ...trim, id, ...Object.entries(fields).flat())) as string;
  }
  async xread(streams: { key: string; id: string }[], options?: { BLOCK?: number; COUNT?: number }) {
    const opts: Arg[] = [];
    if (options?.COUNT != null) opts.push('COUNT', options.COUNT);
    if (options?.BLOCK != null) opts.push('BLOCK', options.BLOCK);
    return this.call('XREAD', ...opts, 'STREAMS', ...streams.map((s) => s.key), ...streams.map((s) => s.id));
  }
  async xtrim(key: string, strategy: 'MAXLEN', threshold: number, options?: { approximate?: boolean }) {
    return (await this.call('XTRIM', key, strategy, ...(options?.approximate === false ? [] : ['~']), threshold)) as number;
  }
  async bzpopmin(key: string, timeout: number) {
    try {
      return (await this.call('BZPOPMIN', key, timeout)) as [string, string, string] | null;
    } catch (err) {
      if (this.status === 'end' && (err as Error).message === CLOSED) return null;
      throw err;
    }
  }
  async info() { return (await this.call('INFO')) as string; }
  async clientSetName(name: string) { return this.call('CLIENT', 'SETNAME', name); }
  async clientList() { return (await this.call('CLIENT', 'LIST')) as string; }
  async clientInfo() { return (await this.call('CLIENT', 'INFO')) as string; }
  async scan(cursor: string | number, options: { MATCH?: string; COUNT?: number }) {
    const opts: Arg[] = [];
    if (options.MATCH) opts.push('MATCH', options.MATCH);
    if (options.COUNT) opts.push('COUNT', options.COUNT);
    const [next, keys] = (await this.call('SCAN', cursor, ...opts)) as [string, string[]];
    return [String(next), keys] as [string, string[]];
  }
  scanStream(options: { match: string; count?: number }): Readable {
    const scan = (cursor: string) => this.scan(cursor, { MATCH: options.match, COUNT: options.count ?? 100 });
    let cursor = '0';
    let finished = false;
    const stream: Readable = new Readable({
      objectMode: true,
      read() {
        void (async () => {
          try {
            for (;;) {
              if (finished) {
                stream.push(null);
                return;
              }
              const [next, keys] = await scan(cursor);
              cursor = next;
              if (next === '0') finished = true;
              if (keys.length > 0) {
                stream.push(keys);
                return;
              }
            }
          } catch (err) {
            stream.destroy(err as Error);
          }
        })();
      },
    });
    return stream;
  }
  async keys(pattern: string) { return (await this.call('KEYS', pattern)) as string[]; }
  async exists(...keys: string[]) { return keys.length === 0 ? 0 : ((await this.call('EXISTS', ...keys)) as number); }
  async zadd(key: string, ...args: Arg[]) { return (await this.call('ZADD', key, ...args)) as number; }
  async zrem(key: string, ...members: string[]) { return (await this.call('ZREM', key, ...members)) as number; }
  async xlen(key: string) { return (await this.call('XLEN', key)) as number; }
  async xrevrange(key: string, end: string, start: string, ...rest: Arg[]) { return this.call('XREVRANGE', key, end, start, ...rest); }
  async sadd(key: string, ...members: Arg[]) { return (await this.call('SADD', key, ...members)) as number; }
  async scard(key: string) { return (await this.call('SCARD', key)) as number; }
  async lpush(key: string, ...values: Arg[]) { return (await this.call('LPUSH', key, ...values)) as number; }
  async rpop(key: string) { return (await this.call('RPOP', key)) as string | null; }
  async incr(key: string) { return (await this.call('INCR', key)) as number; }
  async incrby(key: string, n: number) { return (await this.call('INCRBY', key, n)) as number; }
}

type Transform = (value: Reply) => unknown;

/** MULTI/EXEC (or a plain pipeline): commands queued, sent together, results as [err, value] pairs. */
export class RespTransaction {
  private readonly commands: { args: Arg[]; transform: Transform }[] = [];

  constructor(private readonly client: RespRedisClient, private readonly scripts: Map<string, Script>, private readonly atomic: boolean) {}

  private add(args: Arg[], transform: Transform = (v) => v): this {
    this.commands.push({ args, transform });
    return this;
  }

  hgetall(key: string) { return this.add(['HGETALL', key], toObject); }
  hset(key: string, data: Record<string, string | number>) { return this.add(['HSET', key, ...Object.entries(data).flat()]); }
  hscan(key: string, cursor: string | number, options?: { COUNT?: number }) {
    return this.add(['HSCAN', key, cursor, ...(options?.COUNT != null ? ['COUNT', options.COUNT] : [])]);
  }
  smembers(key: string) { return this.add(['SMEMBERS', key]); }
  sscan(key: string, cursor: string | number, options?: { COUNT?: number }) {
    return this.add(['SSCAN', key, cursor, ...(options?.COUNT != null ? ['COUNT', options.COUNT] : [])]);
  }
  zrange(key: string, start: number, end: number) { return this.add(['ZRANGE', key, start, end]); }
  lrange(key: string, start: number, end: number) { return this.add(['LRANGE', key, start, end]); }
  llen(key: string) { return this.add(['LLEN', key]); }
  del(...keys: string[]) { return keys.length === 0 ? this : this.add(['DEL', ...keys]); }
  runCommand(name: string, args: unknown[]) {
    const script = this.scripts.get(name);
    if (script === undefined) throw new Error(`unknown command "${name}" in transaction`);
    return this.add(['EVALSHA', script.sha, script.numberOfKeys, ...scriptArgs(args)]);
  }

  async exec(): Promise<[Error | null, unknown][] | null> {
    const commands = this.commands.splice(0);
    if (this.atomic) {
      const queued = [this.client.call('MULTI'), ...commands.map((c) => this.client.call(...c.args).catch((e: Error) => e))];
      const exec = this.client.call('EXEC');
      await Promise.all(queued);
      const results = (await exec) as Reply[] | null;
      if (results === null) return null;
      return results.map((r, i) => (r instanceof Error ? [r, null] : [null, commands[i]!.transform(r)]));
    }
    const results = await Promise.all(commands.map((c) => this.client.call(...c.args).then((v) => v, (e: Error) => e)));
    return results.map((r, i) => (r instanceof Error ? [r, null] : [null, commands[i]!.transform(r)]));
  }
}
