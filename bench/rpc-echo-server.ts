import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { fromBinary, type DescMessage } from '@bufbuild/protobuf';
import {
  CreateTaskResponseSchema,
  GetTaskResponseSchema,
  ListTasksResponseSchema,
  SchedulerService,
} from '../src/gen/cronplane/v1/scheduler_service_pb.js';
import { toGrpcServiceDefinition } from '../src/grpc/service-definition.js';
import { Args } from './lib/args.js';
import { report } from './lib/children.js';

/**
 * Child process: a bare grpc-js server for the same SchedulerService definition and codecs
 * (protobuf-es, via toGrpcServiceDefinition) that answers CreateTask, GetTask and ListTasks
 * with canned responses captured from a real cronplane, so the messages have the same sizes.
 * No validation, no store, no engine: the ceiling the transport and codecs allow.
 * With --raw the canned responses go out as the captured bytes (no encoding per call either):
 * the ceiling of the transport alone.
 */

const args = new Args();
const canned = JSON.parse(readFileSync(args.string('canned', ''), 'utf8')) as Record<string, string>;

function load<D extends DescMessage>(schema: D, key: string) {
  return fromBinary(schema, Buffer.from(canned[key]!, 'base64'));
}

const raw = args.flag('raw');
const bytes = (key: string) => Buffer.from(canned[key]!, 'base64');
const responses = raw
  ? { createTask: bytes('createTask'), getTask: bytes('getTask'), listTasks: bytes('listTasks') }
  : {
    createTask: load(CreateTaskResponseSchema, 'createTask'),
    getTask: load(GetTaskResponseSchema, 'getTask'),
    listTasks: load(ListTasksResponseSchema, 'listTasks'),
  };

const unimplemented: grpc.handleUnaryCall<unknown, unknown> = (_call, callback) =>
  callback({ code: grpc.status.UNIMPLEMENTED, details: 'echo server' });

const handlers: grpc.UntypedServiceImplementation = {};
for (const method of SchedulerService.methods) handlers[method.localName] = unimplemented;
handlers['createTask'] = ((_call, callback) => callback(null, responses.createTask)) as grpc.handleUnaryCall<unknown, unknown>;
handlers['getTask'] = ((_call, callback) => callback(null, responses.getTask)) as grpc.handleUnaryCall<unknown, unknown>;
handlers['listTasks'] = ((_call, callback) => callback(null, responses.listTasks)) as grpc.handleUnaryCall<unknown, unknown>;

const server = new grpc.Server({ 'grpc.max_receive_message_length': 4 * 1024 * 1024, 'grpc.max_send_message_length': 4 * 1024 * 1024 });
const definition = toGrpcServiceDefinition(SchedulerService);
if (raw) {
  // Buffers go out as they are, whatever the service definition's serializer does with them.
  for (const method of Object.values(definition)) {
    const encode = method.responseSerialize;
    method.responseSerialize = (value: unknown) => (Buffer.isBuffer(value) ? value : encode(value));
  }
}
server.addService(definition, handlers);
server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    process.stderr.write(`echo server: ${err.message}\n`);
    process.exit(1);
  }
  report({ ready: true, port });
});
process.once('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
setTimeout(() => process.exit(3), args.number('max-seconds', 1800) * 1000).unref();
