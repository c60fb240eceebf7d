import * as grpc from '@grpc/grpc-js';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import { SchedulerService, WatchExecutionsRequestSchema, WatchExecutionsResponseSchema } from '../src/gen/cronplane/v1/scheduler_service_pb.js';
import { Args } from './lib/args.js';
import { report } from './lib/children.js';
import { Samples } from './lib/stats.js';

/**
 * Child process: `--clients` WatchExecutions streams (all tasks) on one channel. Messages are
 * counted without decoding (a 2-core machine cannot decode 100 copies of every event and
 * still leave the server a core); the first stream decodes every event for the lag
 * (receive - event time). Prints {"ready"} once all streams are open, {"done"} on SIGTERM.
 */

const args = new Args();
const address = args.string('address', '127.0.0.1:50051');
const clients = args.number('clients', 100);
const client = new grpc.Client(address, grpc.credentials.createInsecure());
const path = `/${SchedulerService.typeName}/${SchedulerService.method.watchExecutions.name}`;
const request = Buffer.from(toBinary(WatchExecutionsRequestSchema, create(WatchExecutionsRequestSchema, {})));

const counts = new Array<number>(clients).fill(0);
const ended: Record<string, number> = {};
const lag = new Samples();
let measuring = false;
let measuredCounts = new Array<number>(clients).fill(0);
const streams: grpc.ClientReadableStream<Buffer>[] = [];

for (let i = 0; i < clients; i++) {
  const stream = client.makeServerStreamRequest(path, (b: Buffer) => b, (b: Buffer) => b, request) as grpc.ClientReadableStream<Buffer>;
  stream.on('data', (bytes: Buffer) => {
    counts[i]!++;
    if (measuring) measuredCounts[i]!++;
    if (i === 0 && measuring) {
      const event = fromBinary(WatchExecutionsResponseSchema, bytes).event;
      if (event?.time !== undefined) lag.push(Date.now() - timestampMs(event.time));
    }
  });
  stream.on('error', (err: grpc.ServiceError) => {
    const key = grpc.status[err.code] ?? String(err.code);
    ended[key] = (ended[key] ?? 0) + 1;
  });
  stream.on('end', () => { ended['END'] = (ended['END'] ?? 0) + 1; });
  streams.push(stream);
}

// grpc-js starts streams lazily; give them a moment to reach the server before "ready".
setTimeout(() => report({ ready: true, clients }), 1_000);

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
    report({ done: true, clients, total, perClientMin: Math.min(...measuredCounts), perClientMax: Math.max(...measuredCounts), ended, lag: lag.summary() });
    for (const s of streams) s.cancel();
    client.close();
    setTimeout(() => process.exit(0), 200);
  }
});
setTimeout(() => process.exit(3), args.number('max-seconds', 900) * 1000).unref();
