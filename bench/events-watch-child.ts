import { connect as http2Connect, constants as h2, type ClientHttp2Stream } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import { SchedulerService, WatchExecutionsRequestSchema, WatchExecutionsResponseSchema } from '../src/gen/cronplane/v1/scheduler_service_pb.js';
import { Args } from './lib/args.js';
import { report } from './lib/children.js';
import { Samples } from './lib/stats.js';

/**
 * Child process: `--clients` WatchExecutions streams (all tasks) on one connection. Messages are
 * counted without decoding (a 2-core machine cannot decode 100 copies of every event and
 * still leave the server a core); the first stream decodes every event for the lag
 * (receive - event time). Prints {"ready"} once all streams are open, {"done"} on SIGTERM.
 *
 * `--client grpc` (default) reads with grpc-js, one 'data' event per message: about 5 us per
 * message here, so at 100 x 3,000 events/s this process alone would need more than a core.
 * `--client http2` speaks gRPC over node:http2 itself and counts messages by their 5-byte
 * length prefixes in whatever chunks arrive: about a quarter of the cost, so what is measured is
 * the server's fan-out rather than this process; its connection gets the flow-control window of
 * `clients` separate connections. Both open the same streams with the same request.
 */

const args = new Args();
const address = args.string('address', '127.0.0.1:50051');
const clients = args.number('clients', 100);
const kind = args.string('client', 'grpc');
if (kind !== 'grpc' && kind !== 'http2') throw new Error(`--client: grpc or http2, got ${kind}`);
const path = `/${SchedulerService.typeName}/${SchedulerService.method.watchExecutions.name}`;
const request = Buffer.from(toBinary(WatchExecutionsRequestSchema, create(WatchExecutionsRequestSchema, {})));

const counts = new Array<number>(clients).fill(0);
const ended: Record<string, number> = {};
const lag = new Samples();
let measuring = false;
let measuredCounts = new Array<number>(clients).fill(0);

function onMessage(i: number, bytes: Uint8Array | undefined): void {
  counts[i]!++;
  if (measuring) measuredCounts[i]!++;
  if (bytes !== undefined && measuring) {
    const event = fromBinary(WatchExecutionsResponseSchema, bytes).event;
    if (event?.time !== undefined) lag.push(Date.now() - timestampMs(event.time));
  }
}

function endedWith(key: string): void {
  ended[key] = (ended[key] ?? 0) + 1;
}

/** Splits a gRPC response body into messages; keeps the bytes only when asked to. */
class MessageCounter {
  /** Bytes of the 5-byte prefix still to read (0: between messages). */
  private prefixLeft = 0;
  private length = 0;
  /** Bytes of the current message still to come. */
  private bodyLeft = 0;
  private parts: Buffer[] = [];

  constructor(private readonly onMessage: (bytes: Uint8Array | undefined) => void, private readonly keepBytes: boolean) {}

  push(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.bodyLeft > 0) {
        const take = Math.min(this.bodyLeft, chunk.length - i);
        if (this.keepBytes) this.parts.push(chunk.subarray(i, i + take));
        this.bodyLeft -= take;
        i += take;
        if (this.bodyLeft === 0) this.done();
        continue;
      }
      if (this.prefixLeft === 0) {
        this.prefixLeft = 5;
        this.length = 0;
      }
      const byte = chunk[i++]!;
      this.prefixLeft--;
      if (this.prefixLeft < 4) this.length = this.length * 256 + byte; // byte 0 is the compression flag
      if (this.prefixLeft === 0) {
        this.bodyLeft = this.length;
        if (this.length === 0) this.done();
      }
    }
  }

  private done(): void {
    this.onMessage(this.keepBytes ? Buffer.concat(this.parts) : undefined);
    this.parts = [];
  }
}

const closers: Array<() => void> = [];

if (kind === 'grpc') {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const streams: grpc.ClientReadableStream<Buffer>[] = [];
  for (let i = 0; i < clients; i++) {
    const stream = client.makeServerStreamRequest(path, (b: Buffer) => b, (b: Buffer) => b, request) as grpc.ClientReadableStream<Buffer>;
    stream.on('data', (bytes: Buffer) => onMessage(i, i === 0 ? bytes : undefined));
    stream.on('error', (err: grpc.ServiceError) => endedWith(grpc.status[err.code] ?? String(err.code)));
    stream.on('end', () => endedWith('END'));
    streams.push(stream);
  }
  closers.push(() => {
    for (const s of streams) s.cancel();
    client.close();
  });
} else {
  const session = http2Connect(`http://${address}`);
  session.on('error', () => undefined);
  // All streams share this one connection: give it the connection-level flow-control window
  // that `clients` separate connections would have together (64 KiB each), else the shared
  // 64 KiB window, not the server, limits what arrives. Each stream keeps its own 64 KiB.
  session.on('connect', () => session.setLocalWindowSize(65_535 * clients));
  const streams: ClientHttp2Stream[] = [];
  const frame = Buffer.alloc(5 + request.length);
  frame.writeUInt32BE(request.length, 1);
  request.copy(frame, 5);
  for (let i = 0; i < clients; i++) {
    const stream = session.request({
      [h2.HTTP2_HEADER_METHOD]: 'POST',
      [h2.HTTP2_HEADER_PATH]: path,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    stream.end(frame);
    const counter = new MessageCounter((bytes) => onMessage(i, bytes), i === 0);
    stream.on('data', (chunk: Buffer) => counter.push(chunk));
    let status: string | undefined;
    stream.on('trailers', (trailers) => {
      const code = Number(trailers['grpc-status']);
      status = code === 0 ? 'END' : (grpc.status[code] ?? String(code));
    });
    stream.on('response', (headers) => {
      // a trailers-only answer (an error before any message) comes as the response headers
      if (headers['grpc-status'] !== undefined) {
        const code = Number(headers['grpc-status']);
        status = code === 0 ? 'END' : (grpc.status[code] ?? String(code));
      }
    });
    stream.on('error', () => { status ??= 'ERROR'; });
    stream.on('close', () => endedWith(status ?? 'CLOSED'));
    streams.push(stream);
  }
  closers.push(() => {
    for (const s of streams) s.close(h2.NGHTTP2_CANCEL);
    session.close();
  });
}

// Streams start lazily; give them a moment to reach the server before "ready".
setTimeout(() => report({ ready: true, clients, client: kind }), 1_000);

process.on('message', () => undefined);
process.stdin.resume();
process.stdin.on('data', (d) => {
  const cmd = d.toString().trim();
  if (cmd === 'start') {
    measuredCounts = new Array<number>(clients).fill(0);
    measuring = true;
    report({ started: true });
  }
  if (cmd === 'stop') {
    measuring = false;
    const total = measuredCounts.reduce((a, b) => a + b, 0);
    // Streams still open at the end are counted as such (only the grpc client reported them).
    report({ done: true, clients, total, perClientMin: Math.min(...measuredCounts), perClientMax: Math.max(...measuredCounts), ended: { ...ended }, lag: lag.summary() });
    for (const close of closers) close();
    setTimeout(() => process.exit(0), 200);
  }
});
setTimeout(() => process.exit(3), args.number('max-seconds', 900) * 1000).unref();
