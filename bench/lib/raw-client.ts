import * as grpc from '@grpc/grpc-js';
import { create, toBinary, type DescMessage, type MessageInitShape } from '@bufbuild/protobuf';
import { SchedulerService } from '../../src/gen/cronplane/v1/scheduler_service_pb.js';

/**
 * A load-generator client for SchedulerService: requests are encoded with protobuf-es, responses
 * are NOT decoded (raw bytes), so on a 2-core machine the client spends as little CPU as
 * possible and the server's throughput is what gets measured. Errors still reject (status).
 */
export class RawSchedulerClient {
  private readonly client: grpc.Client;

  constructor(address: string) {
    this.client = new grpc.Client(address, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
    });
  }

  /** Encode a request of `method` (protobuf-es local name, e.g. 'createTask'). */
  static encode<K extends keyof (typeof SchedulerService)['method']>(
    method: K,
    init: MessageInitShape<(typeof SchedulerService)['method'][K]['input']>,
  ): Buffer {
    const schema = SchedulerService.method[method].input as DescMessage;
    const bytes = toBinary(schema, create(schema, init as never));
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** One unary call with pre-encoded bytes; resolves with the raw response bytes. */
  call(method: keyof (typeof SchedulerService)['method'], request: Buffer): Promise<Buffer> {
    const name = SchedulerService.method[method].name;
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        `/${SchedulerService.typeName}/${name}`,
        (b: Buffer) => b,
        (b: Buffer) => b,
        request,
        (err: grpc.ServiceError | null, value?: Buffer) => (err ? reject(err) : resolve(value!)),
      );
    });
  }

  close(): void {
    this.client.close();
  }
}
