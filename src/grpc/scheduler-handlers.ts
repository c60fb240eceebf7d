import type * as grpc from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import { InvalidArgumentError, type FieldViolation } from '../domain/errors.js';
import type { RequestContext, SchedulerApi } from '../engine/scheduler-api.js';
import {
  CancelExecutionResponseSchema,
  DeleteTaskResponseSchema,
  GetExecutionResponseSchema,
  ListExecutionsResponseSchema,
  PreviewScheduleResponseSchema,
  RunTaskResponseSchema,
  type CancelExecutionRequest,
  type CreateTaskRequest,
  type DeleteTaskRequest,
  type GetExecutionRequest,
  type GetTaskRequest,
  type ListExecutionsRequest,
  type ListTasksRequest,
  type PauseTaskRequest,
  type PreviewScheduleRequest,
  type ResumeTaskRequest,
  type RunTaskRequest,
  type SchedulerService,
  type UpdateTaskRequest,
} from '../gen/cronplane/v1/scheduler_service_pb.js';
import { executionStatesFromProto, executionToProto } from './convert-execution.js';
import { scheduleSpecFromProto, taskSpecFromProto } from './convert-task.js';
import { encodeListTasksResponse, encodeTaskResponse } from './encode-task.js';
import { msFromTimestamp, timestampFromMillis } from './convert-time.js';
import type { SchedulerMethod } from './method-access.js';
import type { GrpcServerCall, SchedulerHandlerHooks } from './request-context.js';
import { RpcCall, type AuditTarget } from './rpc-call.js';
import { MalformedRequest } from './service-definition.js';
import { createWatchExecutionsHandler } from './watch-executions-handler.js';

/** One handler per RPC, keyed by protobuf-es local name (grpc-js finds them via originalName). */
type SchedulerHandlers = { [K in keyof (typeof SchedulerService)['method']]: grpc.UntypedHandleCall };

function required(field: string): InvalidArgumentError {
  return new InvalidArgumentError([{ field, description: 'is required' }]);
}

function requireNonEmpty(value: string, field: string): void {
  if (value === '') throw required(field);
}

/** Per-method extras: where a body carries a request id, and what a mutating call's audit line names. */
interface UnaryOptions<Req, Res> {
  bodyRequestId?: (request: Req) => string;
  audit?: (request: Req, response: Res | undefined) => AuditTarget;
}

/**
 * Adapts one async use case to a grpc-js unary handler: answers exactly once, never throws
 * synchronously; RpcCall does the request id, auth, metrics, audit and error mapping.
 */
function unary<Req, Res>(
  name: SchedulerMethod,
  hooks: SchedulerHandlerHooks,
  run: (request: Req, context: RequestContext) => Promise<Res>,
  options: UnaryOptions<Req, Res> = {},
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const rpc = new RpcCall(hooks, call as GrpcServerCall, name);
    // A malformed body is not a Req: audit only what decoded.
    const target = (response?: Res): AuditTarget | undefined => {
      if (options.audit === undefined || call.request instanceof MalformedRequest) return undefined;
      try {
        return options.audit(call.request, response);
      } catch {
        return undefined;
      }
    };
    const answer = async (): Promise<Res> => run(call.request, await rpc.begin(options.bodyRequestId as ((r: never) => string) | undefined));
    answer()
      .then(
        (response) => {
          rpc.succeeded(target(response));
          callback(null, response);
        },
        (err: unknown) => callback(rpc.failed(err, target())),
      )
      .catch((err: unknown) => hooks.log.error({ err, method: rpc.method, requestId: rpc.requestId }, 'could not send the rpc answer'));
  };
}

const byTaskName = (req: { name: string }): AuditTarget => ({ task: req.name });

/**
 * The SchedulerService over gRPC: converts proto requests to domain calls on the api and the
 * results back. No business rules here; the api validates and throws domain errors. Task
 * responses are written as wire bytes directly (encode-task.ts): the hot path of Create, Get
 * and ListTasks; the rest go through protobuf-es messages.
 */
export function createSchedulerHandlers(api: SchedulerApi, hooks: SchedulerHandlerHooks): grpc.UntypedServiceImplementation {
  const handlers: SchedulerHandlers = {
    createTask: unary(
      'createTask',
      hooks,
      async (req: CreateTaskRequest, ctx) => {
        if (req.task === undefined) throw required('task');
        return encodeTaskResponse(await api.createTask(taskSpecFromProto(req.task), { ...ctx, createRequestId: req.requestId }));
      },
      { bodyRequestId: (req) => req.requestId, audit: (req) => ({ task: req.task?.name }) },
    ),
    getTask: unary('getTask', hooks, async (req: GetTaskRequest) => {
      requireNonEmpty(req.name, 'name');
      return encodeTaskResponse(await api.getTask(req.name));
    }),
    listTasks: unary('listTasks', hooks, async (req: ListTasksRequest) => {
      return encodeListTasksResponse(await api.listTasks({ pageSize: req.pageSize, pageToken: req.pageToken, filter: req.filter }));
    }),
    updateTask: unary(
      'updateTask',
      hooks,
      async (req: UpdateTaskRequest, ctx) => {
        if (req.task === undefined) throw required('task');
        requireNonEmpty(req.task.name, 'task.name');
        const spec = taskSpecFromProto(req.task);
        return encodeTaskResponse(await api.updateTask({ spec, paths: [...(req.updateMask?.paths ?? [])], etag: req.etag }, ctx));
      },
      { bodyRequestId: (req) => req.requestId, audit: (req) => ({ task: req.task?.name }) },
    ),
    deleteTask: unary('deleteTask', hooks, async (req: DeleteTaskRequest, ctx) => {
      requireNonEmpty(req.name, 'name');
      await api.deleteTask(req.name, req.etag, ctx);
      return create(DeleteTaskResponseSchema);
    }, { audit: byTaskName }),
    pauseTask: unary('pauseTask', hooks, async (req: PauseTaskRequest, ctx) => {
      requireNonEmpty(req.name, 'name');
      return encodeTaskResponse(await api.pauseTask(req.name, req.reason, ctx));
    }, { audit: byTaskName }),
    resumeTask: unary('resumeTask', hooks, async (req: ResumeTaskRequest, ctx) => {
      requireNonEmpty(req.name, 'name');
      return encodeTaskResponse(await api.resumeTask(req.name, ctx));
    }, { audit: byTaskName }),
    runTask: unary('runTask', hooks, async (req: RunTaskRequest, ctx) => {
      requireNonEmpty(req.name, 'name');
      return create(RunTaskResponseSchema, { execution: executionToProto(await api.runTask(req.name, ctx)) });
    }, { audit: (req, res) => ({ task: req.name, executionId: res?.execution?.id }) }),
    listExecutions: unary('listExecutions', hooks, async (req: ListExecutionsRequest) => {
      const page = await api.listExecutions({
        taskName: req.taskName,
        states: executionStatesFromProto(req.states, 'states'),
        pageSize: req.pageSize,
        pageToken: req.pageToken,
      });
      return create(ListExecutionsResponseSchema, {
        executions: page.executions.map(executionToProto),
        nextPageToken: page.nextPageToken,
      });
    }),
    getExecution: unary('getExecution', hooks, async (req: GetExecutionRequest) => {
      requireNonEmpty(req.id, 'id');
      return create(GetExecutionResponseSchema, { execution: executionToProto(await api.getExecution(req.id)) });
    }),
    cancelExecution: unary('cancelExecution', hooks, async (req: CancelExecutionRequest, ctx) => {
      requireNonEmpty(req.id, 'id');
      return create(CancelExecutionResponseSchema, { execution: executionToProto(await api.cancelExecution(req.id, ctx)) });
    }, { audit: (req, res) => ({ executionId: req.id, task: res?.execution?.taskName }) }),
    watchExecutions: createWatchExecutionsHandler(api, hooks),
    previewSchedule: unary('previewSchedule', hooks, async (req: PreviewScheduleRequest) => {
      if (req.schedule === undefined) throw required('schedule');
      const violations: FieldViolation[] = [];
      const startTime = req.startTime === undefined ? undefined : msFromTimestamp(req.startTime, 'start_time', violations);
      if (violations.length > 0) throw new InvalidArgumentError(violations);
      const times = await api.previewSchedule(scheduleSpecFromProto(req.schedule), startTime, req.count);
      return create(PreviewScheduleResponseSchema, { times: times.map(timestampFromMillis) });
    }),
  };
  return handlers;
}
