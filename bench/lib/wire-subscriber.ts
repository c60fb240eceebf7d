import { connect, type Socket } from 'node:net';
import { nowMs } from './nats.js';

/** A message as it came off the socket: when the read that completed it ran, and its header block. */
export type WireMessageHandler = (receivedMs: number, headers: WireHeaders) => void;

/**
 * A NATS subscriber for measuring lateness: it speaks the text protocol on a plain socket and
 * stamps every message with the time of the socket read that completed it. Once subscribed, a
 * read only keeps its bytes and its time; the messages are parsed when asked for (`deliver`),
 * after the measuring, so no work of the subscriber's own delays its next read.
 *
 * Why not nats.js: its parsing costs several µs per message with headers here, so in a burst of
 * 10,000 messages its reads of the socket fall ~100 ms behind the bytes' arrival, and the last
 * messages of the burst look late by the subscriber's own work. Measured with one pre-built
 * 10,000-message burst per second: a nats.js subscriber that does nothing but take the time in
 * its callback had p99 100-116 ms, a plain-socket one that counts messages in each read 28 ms,
 * and this one parsing as it read (two header lookups and a date per message) 61 ms. The
 * instrument must not be what is measured.
 *
 * The price is memory: every read is kept until `deliver`, about 290 bytes a message (some
 * 200 MB for 10,000 per-second tasks over a 5-s warm-up and a 60-s window).
 */
export class WireSubscriber {
  private pending: Buffer | undefined;
  /** Reads not parsed yet, and when each ran. */
  private kept: Buffer[] = [];
  private keptAt: number[] = [];
  private keeping = false;
  /** The end of the last kept read, for a PING split across two reads. */
  private keptTail = '';
  private closing = false;
  private ready: (() => void) | undefined;
  private failed: ((err: Error) => void) | undefined;
  /** -ERR lines from the server and socket errors: a run that has any is not to be trusted. */
  readonly serverErrors: string[] = [];

  private constructor(
    private readonly socket: Socket,
    private readonly onMessage: WireMessageHandler,
  ) {}

  /** Subscribed once this resolves: the server has answered a PING sent after the SUB. */
  static connect(natsUrl: string, subject: string, onMessage: WireMessageHandler, timeoutMs = 10_000): Promise<WireSubscriber> {
    const url = new URL(natsUrl);
    const socket = connect(Number(url.port || 4222), url.hostname);
    socket.setNoDelay(true);
    const sub = new WireSubscriber(socket, onMessage);
    return new Promise<WireSubscriber>((resolve, reject) => {
      const timer = setTimeout(() => sub.failed?.(new Error(`no answer from ${url.host} within ${timeoutMs} ms`)), timeoutMs);
      sub.ready = () => {
        clearTimeout(timer);
        resolve(sub);
      };
      sub.failed = (err) => {
        clearTimeout(timer);
        sub.ready = sub.failed = undefined;
        socket.destroy();
        reject(err);
      };
      socket.on('error', (err) => {
        sub.serverErrors.push(String(err));
        sub.failed?.(err);
      });
      // A server that drops the connection (a slow consumer, say) sends no -ERR: the run must not count what it lost as missed.
      socket.on('close', () => {
        if (sub.closing) return;
        sub.serverErrors.push('the connection to nats-server closed during the run');
        sub.failed?.(new Error(`${url.host} closed the connection`));
      });
      socket.on('data', (chunk: Buffer) => sub.received(nowMs(), chunk));
      socket.once('connect', () => {
        const options = { verbose: false, pedantic: false, headers: true, protocol: 1, lang: 'cronplane-bench', version: '1', name: 'cpbench-wire-subscriber' };
        socket.write(`CONNECT ${JSON.stringify(options)}\r\nSUB ${subject} 1\r\nPING\r\n`);
      });
    });
  }

  private received(at: number, chunk: Buffer): void {
    if (!this.keeping) return this.parse(at, chunk);
    this.kept.push(chunk);
    this.keptAt.push(at);
    // The server's keep-alive cannot wait for the parse (an extra PONG is harmless).
    const tail = this.keptTail;
    this.keptTail = chunk.toString('latin1', Math.max(0, chunk.length - 5));
    if (chunk.includes('PING\r\n') || (tail !== '' && (tail + chunk.toString('latin1', 0, 5)).includes('PING\r\n'))) this.socket.write('PONG\r\n');
  }

  /** Every message read so far, in order, to the handler. */
  deliver(): void {
    const kept = this.kept;
    const keptAt = this.keptAt;
    this.kept = [];
    this.keptAt = [];
    for (let i = 0; i < kept.length; i++) this.parse(keptAt[i]!, kept[i]!);
  }

  /** Parses every whole frame in the bytes so far; a partial one waits for the next read. */
  private parse(at: number, chunk: Buffer): void {
    const buf = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    let off = 0;
    for (;;) {
      const eol = buf.indexOf('\r\n', off);
      if (eol < 0) break;
      const op = buf[off];
      if (op === 0x48 /* H */ || op === 0x4d /* M */) {
        // [H]MSG <subject> <sid> [reply-to] [<header bytes>] <total bytes>
        const fields = buf.toString('latin1', off, eol).split(' ');
        const total = Number(fields[fields.length - 1]);
        const headerBytes = op === 0x48 ? Number(fields[fields.length - 2]) : 0;
        const end = eol + 2 + total;
        if (end + 2 > buf.length) break;
        this.onMessage(at, new WireHeaders(buf.subarray(eol + 2, eol + 2 + headerBytes)));
        off = end + 2;
        continue;
      }
      const line = buf.toString('latin1', off, eol);
      if (line.startsWith('PING')) {
        if (!this.keeping) this.socket.write('PONG\r\n');
      } else if (line.startsWith('PONG') && this.ready !== undefined) {
        const ready = this.ready;
        this.ready = this.failed = undefined;
        this.keeping = true;
        ready();
      } else if (line.startsWith('-ERR')) {
        this.serverErrors.push(line);
        this.failed?.(new Error(`nats-server: ${line}`));
      }
      off = eol + 2;
    }
    this.pending = off >= buf.length ? undefined : Buffer.from(buf.subarray(off));
  }

  close(): Promise<void> {
    this.closing = true;
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.once('close', () => resolve());
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 1_000).unref();
    });
  }
}

/** A message's header block ("NATS/1.0\r\nName: value\r\n...\r\n\r\n"), read by exact-case name. */
export class WireHeaders {
  constructor(private readonly block: Buffer) {}

  get(name: string): string | undefined {
    const key = `\r\n${name}: `;
    const at = this.block.indexOf(key, 0, 'latin1');
    if (at < 0) return undefined;
    const from = at + key.length;
    const to = this.block.indexOf('\r\n', from);
    return this.block.toString('utf8', from, to < 0 ? this.block.length : to);
  }
}
