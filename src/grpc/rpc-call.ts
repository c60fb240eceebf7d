import * as grpc from '@grpc/grpc-js';
import type { Access } from '../auth/access.js';
import { PermissionDeniedError } from '../auth/auth-errors.js';
import type { RequestContext } from '../engine/scheduler-api.js';
import { SchedulerService } from '../gen/cronplane/v1/scheduler_service_pb.js';
import type { GrpcError } from './error-mapping.js';
import { GrpcStatusError } from './grpc-status-error.js';
import { METHOD_ACCESS, type SchedulerMethod } from './method-access.js';
import { chooseRequestId, requestContextOf, sendRequestId, type GrpcServerCall, type SchedulerHandlerHooks } from './request-context.js';
import { reportRpcError } from './report-rpc-error.js';
import { MalformedRequest } from './service-definition.js';

/** Which task or execution a mutating call touched, for its audit line. */
export interface AuditTarget {
  task?: string;
  executionId?: string;
}

/** Audit lines quote client input: bounded, so a 4 MiB "name" cannot become a 4 MiB log line. */
const MAX_AUDIT_VALUE_CHARS = 128;

function bounded(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  return value.length > MAX_AUDIT_VALUE_CHARS ? `${value.slice(0, MAX_AUDIT_VALUE_CHARS)}…` : value;
}

/**
 * One SchedulerService call from start to status, the single place where every call gets its
 * request id, its principal (or its refusal), its metrics (`cronplane_rpc_total`,
 * `cronplane_rpc_duration_seconds`), its error mapping and, for mutating calls, its audit line:
 * `{ audit: true, principal, method, task | executionId, result, requestId }`.
 */
export class RpcCall {
  readonly method: string;
  readonly access: Access;
  requestId = '';
  /** Set once the caller is authenticated; undefined when the call was refused before that. */
  principal: string | undefined;
  private readonly started = process.hrtime.bigint();
  private ended = false;
  private headersSent = false;

  constructor(
    private readonly hooks: SchedulerHandlerHooks,
    private readonly call: GrpcServerCall,
    name: SchedulerMethod,
    private readonly streaming = false,
  ) {
    this.method = SchedulerService.method[name].name;
    this.access = METHOD_ACCESS[name];
  }

  /**
   * Request id (echoed in the response headers: at once for a stream, with the answer for a
   * unary call), then the auth hook, then the body's shape.
   */
  async begin(bodyRequestId?: (request: never) => string): Promise<RequestContext> {
    const request = this.call.request as unknown;
    const malformed = request instanceof MalformedRequest;
    this.requestId = chooseRequestId(this.call, malformed || bodyRequestId === undefined ? '' : bodyRequestId(request as never));
    if (this.streaming) this.sendHeaders();
    const context = await requestContextOf(this.call, this.requestId, this.hooks, this.access);
    this.principal = context.principal;
    if (malformed) {
      this.hooks.log.debug({ method: this.method, requestId: this.requestId, reason: request.reason }, 'undecodable request body');
      throw new GrpcStatusError(grpc.status.INVALID_ARGUMENT, `the request body is not a valid ${request.typeName} message`);
    }
    return context;
  }

  /** The call answered OK. */
  succeeded(target?: AuditTarget): void {
    this.sendHeaders();
    this.finish('OK', target);
  }

  /** The status to answer `err` with; logged and counted here. */
  failed(err: unknown, target?: AuditTarget): GrpcError {
    this.sendHeaders();
    // Refused for want of scope: the caller is known (verified), and the audit line says who.
    if (err instanceof PermissionDeniedError && this.principal === undefined) this.principal = err.principal;
    const status = reportRpcError(this.hooks.log, { method: this.method, requestId: this.requestId, principal: this.principal }, err);
    this.finish(grpc.status[status.code] ?? String(status.code), target);
    return status;
  }

  /** The response headers with the request id, once; before any answer or status. */
  private sendHeaders(): void {
    if (this.headersSent) return;
    this.headersSent = true;
    if (this.requestId === '') this.requestId = chooseRequestId(this.call);
    sendRequestId(this.call, this.requestId);
  }

  /** The client went away (a watch it cancelled): counted as CANCELLED, nothing to answer. */
  cancelled(): void {
    this.finish('CANCELLED');
  }

  private finish(code: string, target: AuditTarget = {}): void {
    if (this.ended) return;
    this.ended = true;
    const seconds = Number(process.hrtime.bigint() - this.started) / 1e9;
    this.hooks.observer?.rpcDone(this.method, code, this.streaming ? undefined : seconds);
    if (this.access === 'write') {
      this.hooks.log.info(
        {
          audit: true,
          principal: this.principal,
          method: this.method,
          task: bounded(target.task),
          executionId: bounded(target.executionId),
          result: code,
          requestId: this.requestId,
          peer: this.call.getPeer(),
        },
        `audit ${this.method} ${code}`,
      );
    }
    if (this.hooks.log.isLevelEnabled('debug')) {
      this.hooks.log.debug({ method: this.method, requestId: this.requestId, principal: this.principal, code, durationMs: Math.round(seconds * 1000) }, 'rpc done');
    }
  }
}
