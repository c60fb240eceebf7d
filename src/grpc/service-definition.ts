import * as grpc from '@grpc/grpc-js';
import { create, fromBinary, isMessage, toBinary } from '@bufbuild/protobuf';
import type { DescMessage, DescService, MessageInitShape, MessageShape } from '@bufbuild/protobuf';

/**
 * Serializes with protobuf-es; accepts a full message or an init object so callers may pass
 * either, or bytes already encoded as the message (encode-task.ts), which pass through.
 */
function serializerFor<Desc extends DescMessage>(schema: Desc): grpc.serialize<unknown> {
  return (value) => {
    if (value instanceof Uint8Array) return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    const message = isMessage(value, schema) ? value : create(schema, value as MessageInitShape<Desc>);
    const bytes = toBinary(schema, message);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

/** Deserializes with protobuf-es. */
function deserializerFor<Desc extends DescMessage>(schema: Desc): grpc.deserialize<MessageShape<Desc>> {
  return (bytes) => fromBinary(schema, bytes);
}

/**
 * A request body that is not the method's protobuf message. grpc-js answers a throwing request
 * deserializer with INTERNAL ("Error deserializing request"), which blames the server for the
 * client's bytes; so the server's deserializer returns this instead and the handler answers
 * INVALID_ARGUMENT.
 */
export class MalformedRequest {
  constructor(readonly typeName: string, readonly reason: string) {}
}

/** The server side's deserializer: never throws, see MalformedRequest. */
function lenientDeserializerFor<Desc extends DescMessage>(schema: Desc): grpc.deserialize<MessageShape<Desc> | MalformedRequest> {
  return (bytes) => {
    try {
      return fromBinary(schema, bytes);
    } catch (err) {
      return new MalformedRequest(schema.typeName, err instanceof Error ? err.message : String(err));
    }
  };
}

/**
 * grpc-js only knows proto-loader definitions; this lets it serve and call any protobuf-es
 * service descriptor without a second copy of the schema. Keys are the proto method names
 * ("CreateTask"); `originalName` is the protobuf-es local name ("createTask"), so handlers
 * and client methods may use either.
 */
export function toGrpcServiceDefinition(service: DescService): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    definition[method.name] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: method.methodKind === 'client_streaming' || method.methodKind === 'bidi_streaming',
      responseStream: method.methodKind === 'server_streaming' || method.methodKind === 'bidi_streaming',
      requestSerialize: serializerFor(method.input),
      requestDeserialize: lenientDeserializerFor(method.input),
      responseSerialize: serializerFor(method.output),
      responseDeserialize: deserializerFor(method.output),
      originalName: method.localName,
    };
  }
  return definition;
}

/** A generic grpc-js client (grpc-js does not export the instance type by name). */
export type GrpcServiceClient = InstanceType<grpc.ServiceClientConstructor>;

/**
 * Tests and the CLI need a client for a protobuf-es service; this builds one from the same
 * definition the server uses, so both sides always agree on paths and codecs. Methods exist
 * under both names (`CreateTask` and `createTask`) and take/return protobuf-es messages.
 */
export function createGrpcClient(
  service: DescService,
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: Partial<grpc.ChannelOptions>,
): GrpcServiceClient {
  const Client = grpc.makeGenericClientConstructor(toGrpcServiceDefinition(service), service.typeName);
  return new Client(address, credentials, options);
}
