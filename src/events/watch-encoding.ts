import { create, toBinary } from '@bufbuild/protobuf';
import type { ExecutionEvent } from '../domain/execution.js';
import { WatchExecutionsResponseSchema } from '../gen/cronplane/v1/scheduler_service_pb.js';
import { executionEventToProto } from '../grpc/convert-execution.js';

const encoded = new WeakMap<ExecutionEvent, Buffer>();

/**
 * The WatchExecutionsResponse wire bytes of an event, encoded once per event object and shared
 * by every stream that sends it: WatchHub hands all watchers the same object, so with N
 * watchers an event costs one conversion and one toBinary instead of N (each of those was
 * about a third of the service's time with 100 watchers). Kept as long as the event object is.
 * The gRPC response serializer must pass a Buffer through as it is.
 */
export function watchResponseBytes(event: ExecutionEvent): Buffer {
  let bytes = encoded.get(event);
  if (bytes === undefined) {
    const b = toBinary(WatchExecutionsResponseSchema, create(WatchExecutionsResponseSchema, { event: executionEventToProto(event) }));
    bytes = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    encoded.set(event, bytes);
  }
  return bytes;
}
