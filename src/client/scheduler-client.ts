import { create, type DescMessage, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { SchedulerService } from '../gen/cronplane/v1/scheduler_service_pb.js';
import { createGrpcClient } from '../grpc/service-definition.js';

type Methods = typeof SchedulerService.method;
type UnaryNames = { [K in keyof Methods]: Methods[K]['methodKind'] extends 'unary' ? K : never }[keyof Methods];

/** Per-call options: deadline in ms from now, extra metadata (e.g. x-request-id). */
export interface CallOptions {
  timeoutMs?: number;
  metadata?: Record<string, string>;
}

type UnaryMethod<I extends DescMessage, O extends DescMessage> = (
  request: MessageInitShape<I>,
  options?: CallOptions,
) => Promise<MessageShape<O>>;

/** A typed, promise-based SchedulerService client; WatchExecutions is an async iterator. */
export type SchedulerClient = {
  [K in UnaryNames]: UnaryMethod<Methods[K]['input'], Methods[K]['output']>;
} & {
  watchExecutions(
    request: MessageInitShape<Methods['watchExecutions']['input']>,
    options?: CallOptions & { signal?: AbortSignal },
  ): AsyncIterable<MessageShape<Methods['watchExecutions']['output']>>;
  close(): void;
};

export interface SchedulerClientOptions {
  /** Default: insecure (plain HTTP/2), fine on loopback. */
  credentials?: grpc.ChannelCredentials;
  /** Sent as `authorization: Bearer <token>` on every call. */
  token?: string;
  channelOptions?: Partial<grpc.ChannelOptions>;
}

/**
 * The client services use instead of raw gRPC: `await client.createTask({ task })`. Errors are
 * grpc-js ServiceErrors (code, details, metadata with google.rpc.BadRequest details).
 */
export function createSchedulerClient(address: string, options: SchedulerClientOptions = {}): SchedulerClient {
  const raw = createGrpcClient(SchedulerService, address, options.credentials ?? grpc.credentials.createInsecure(), options.channelOptions);
  const metadataOf = (call?: CallOptions) => {
    const md = new grpc.Metadata();
    if (options.token !== undefined) md.set('authorization', `Bearer ${options.token}`);
    for (const [k, v] of Object.entries(call?.metadata ?? {})) md.set(k, v);
    return md;
  };
  const callOptions = (call?: CallOptions): grpc.CallOptions =>
    call?.timeoutMs !== undefined ? { deadline: Date.now() + call.timeoutMs } : {};

  const client: Record<string, unknown> = {};
  for (const method of SchedulerService.methods) {
    if (method.methodKind !== 'unary') continue;
    const fn = (raw as unknown as Record<string, Function>)[method.localName]!.bind(raw);
    client[method.localName] = (request: object, call?: CallOptions) =>
      new Promise((resolve, reject) => {
        fn(create(method.input, request as never), metadataOf(call), callOptions(call), (err: grpc.ServiceError | null, res: unknown) =>
          err ? reject(err) : resolve(res),
        );
      });
  }
  client['watchExecutions'] = (request: object, call?: CallOptions & { signal?: AbortSignal }) => {
    const stream = (raw as unknown as Record<string, Function>)['watchExecutions']!.call(
      raw,
      create(SchedulerService.method.watchExecutions.input, request as never),
      metadataOf(call),
      callOptions(call),
    ) as grpc.ClientReadableStream<unknown>;
    call?.signal?.addEventListener('abort', () => stream.cancel(), { once: true });
    return stream;
  };
  client['close'] = () => raw.close();
  return client as unknown as SchedulerClient;
}
