import type { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { UnavailableError } from '../domain/errors.js';
import type { SchedulerApi } from '../engine/scheduler-api.js';
import type { ExecutionEvent } from '../domain/execution.js';
import type { WatchExecutionsRequest, WatchExecutionsResponse } from '../gen/cronplane/v1/scheduler_service_pb.js';
import { watchQueryFromProto } from './convert-execution.js';
import { encodeWatchResponse } from './encode-execution.js';
import type { SchedulerHandlerHooks } from './request-context.js';
import { RpcCall } from './rpc-call.js';

/** Resolves when the stream can take more (or nobody is listening any more). */
function drained(stream: EventEmitter, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    stream.on('drain', done);
    signal.addEventListener('abort', done);
  });
}

/**
 * Each event's response bytes, once for all the streams it goes to: the watch hub hands the
 * same event object to every matching watcher, so a hundred watchers cost one encoding and a
 * hundred writes. Weak: an event is forgotten with its last reader.
 */
type EncodedEvents = WeakMap<ExecutionEvent, Buffer>;

function encoded(cache: EncodedEvents, event: ExecutionEvent): Buffer {
  let bytes = cache.get(event);
  if (bytes === undefined) {
    bytes = encodeWatchResponse(event);
    cache.set(event, bytes);
  }
  return bytes;
}

async function serveWatch(
  api: SchedulerApi,
  hooks: SchedulerHandlerHooks,
  call: grpc.ServerWritableStream<WatchExecutionsRequest, WatchExecutionsResponse>,
  cache: EncodedEvents,
): Promise<void> {
  const watch = new AbortController();
  let shuttingDown = false;
  const rpc = new RpcCall(hooks, call, 'watchExecutions', true);
  const onClientGone = () => watch.abort();
  const onShutdown = () => {
    shuttingDown = true;
    watch.abort();
  };
  call.on('cancelled', onClientGone);
  call.on('close', onClientGone);
  hooks.shutdownSignal?.addEventListener('abort', onShutdown);
  try {
    // The api's watch takes no context, but the auth hook must still get to refuse the call.
    await rpc.begin();
    if (hooks.shutdownSignal?.aborted === true) onShutdown();
    const query = watchQueryFromProto(call.request);
    if (!watch.signal.aborted) {
      for await (const event of api.watchExecutions(query, watch.signal)) {
        if (watch.signal.aborted) break;
        // Bytes pass through the response serializer as they are (service-definition.ts).
        const more = call.write(encoded(cache, event) as unknown as WatchExecutionsResponse);
        if (!more) await drained(call, watch.signal);
      }
    }
    if (shuttingDown) throw new UnavailableError('server is shutting down; watch again');
    if (watch.signal.aborted) {
      rpc.cancelled();
    } else {
      rpc.succeeded();
      call.end();
    }
  } catch (err) {
    // A client that went away gets no status; anyone else gets the mapped one.
    if ((watch.signal.aborted && !shuttingDown) || call.cancelled || call.destroyed) {
      rpc.cancelled();
      return;
    }
    // emit('error') is how grpc-js ends a server stream with a status (it then calls end()).
    call.emit('error', rpc.failed(err));
  } finally {
    watch.abort();
    call.off('cancelled', onClientGone);
    call.off('close', onClientGone);
    hooks.shutdownSignal?.removeEventListener('abort', onShutdown);
  }
}

/**
 * WatchExecutions: streams the api's events until the client leaves, the api ends the stream
 * or the server shuts down (UNAVAILABLE, so clients reconnect and resume after their last
 * sequence). Writes wait for 'drain', so a slow client slows its own feed down to the api's
 * bounded buffer (which ends it with RESOURCE_EXHAUSTED) instead of growing memory here.
 */
export function createWatchExecutionsHandler(
  api: SchedulerApi,
  hooks: SchedulerHandlerHooks,
): grpc.handleServerStreamingCall<WatchExecutionsRequest, WatchExecutionsResponse> {
  const cache: EncodedEvents = new WeakMap();
  return (call) => {
    serveWatch(api, hooks, call, cache).catch((err: unknown) => {
      hooks.log.error({ err, method: 'WatchExecutions' }, 'watch stream failed while ending');
    });
  };
}
