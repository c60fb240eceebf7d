import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import {
  EtagMismatchError,
  ExecutionNotFoundError,
  FailedPreconditionError,
  InvalidArgumentError,
  InvalidScheduleError,
  ResourceExhaustedError,
  TaskAlreadyExistsError,
  TaskNotFoundError,
  UnavailableError,
} from '../../src/domain/errors.js';
import type { SchedulerApi } from '../../src/engine/scheduler-api.js';
import { SchedulerService } from '../../src/gen/cronplane/v1/scheduler_service_pb.js';
import {
  badRequestFromMetadata,
  INTERNAL_ERROR_DETAILS,
  isUnexpectedError,
  STATUS_DETAILS_KEY,
  toGrpcError,
} from '../../src/grpc/error-mapping.js';
import { startGrpcServer } from '../../src/grpc/grpc-server.js';
import { GrpcStatusError } from '../../src/grpc/grpc-status-error.js';
import { createGrpcClient, type GrpcServiceClient } from '../../src/grpc/service-definition.js';

describe('toGrpcError', () => {
  const cases: [string, unknown, grpc.status][] = [
    ['InvalidArgumentError', new InvalidArgumentError([{ field: 'name', description: 'is required' }]), grpc.status.INVALID_ARGUMENT],
    ['InvalidScheduleError', new InvalidScheduleError([{ field: 'task.schedule.cron', description: 'bad' }]), grpc.status.INVALID_ARGUMENT],
    ['TaskNotFoundError', new TaskNotFoundError('a'), grpc.status.NOT_FOUND],
    ['ExecutionNotFoundError', new ExecutionNotFoundError('e'), grpc.status.NOT_FOUND],
    ['TaskAlreadyExistsError', new TaskAlreadyExistsError('a'), grpc.status.ALREADY_EXISTS],
    ['EtagMismatchError', new EtagMismatchError('a'), grpc.status.ABORTED],
    ['FailedPreconditionError', new FailedPreconditionError('execution has ended'), grpc.status.FAILED_PRECONDITION],
    ['ResourceExhaustedError', new ResourceExhaustedError('watcher fell behind'), grpc.status.RESOURCE_EXHAUSTED],
    ['UnavailableError', new UnavailableError('shutting down'), grpc.status.UNAVAILABLE],
    ['GrpcStatusError', new GrpcStatusError(grpc.status.UNAUTHENTICATED, 'token expired'), grpc.status.UNAUTHENTICATED],
  ];
  for (const [name, err, code] of cases) {
    it(`maps ${name} to ${grpc.status[code]} with the domain message`, () => {
      const status = toGrpcError(err);
      assert.equal(status.code, code);
      assert.equal(status.details, (err as Error).message);
      assert.equal(isUnexpectedError(err), false);
    });
  }

  it('carries every field violation in a google.rpc.BadRequest', () => {
    const violations = [
      { field: 'task.schedule.cron', description: 'expected 5, 6 or 7 fields' },
      { field: 'task.name', description: 'must match ^[a-z0-9][a-z0-9_-]{0,62}$' },
    ];
    const status = toGrpcError(new InvalidScheduleError(violations));
    const [raw] = status.metadata.get(STATUS_DETAILS_KEY);
    assert.ok(Buffer.isBuffer(raw), 'details travel as binary metadata');
    assert.deepEqual(badRequestFromMetadata(status.metadata), violations);
  });

  it('adds no details to statuses without violations', () => {
    const status = toGrpcError(new TaskNotFoundError('a'));
    assert.deepEqual(status.metadata.get(STATUS_DETAILS_KEY), []);
    assert.deepEqual(badRequestFromMetadata(status.metadata), []);
  });

  it('hides anything unknown behind INTERNAL "internal error"', () => {
    for (const err of [new Error('ECONNREFUSED 10.0.0.7:5432 password=hunter2'), new TypeError('x is undefined'), 'a string', undefined]) {
      const status = toGrpcError(err);
      assert.equal(status.code, grpc.status.INTERNAL);
      assert.equal(status.details, INTERNAL_ERROR_DETAILS);
      assert.equal(status.message, INTERNAL_ERROR_DETAILS);
      assert.deepEqual(status.metadata.getMap(), {});
      assert.equal(isUnexpectedError(err), true);
    }
  });

  it('ignores undecodable details', () => {
    const md = new grpc.Metadata();
    md.set(STATUS_DETAILS_KEY, Buffer.from([0xff, 0xff, 0xff]));
    assert.deepEqual(badRequestFromMetadata(md), []);
  });
});

describe('errors as a grpc-js client receives them', () => {
  const failing = (err: unknown) => async () => {
    throw err;
  };
  const api = {
    getTask: failing(new TaskNotFoundError('missing')),
    getExecution: failing(new Error('database on fire at /var/lib/secret')),
  } as unknown as SchedulerApi;
  let server: Awaited<ReturnType<typeof startGrpcServer>>;
  let client: GrpcServiceClient;

  before(async () => {
    server = await startGrpcServer({ address: '127.0.0.1:0', api, log: pino({ level: 'silent' }) });
    client = createGrpcClient(SchedulerService, `127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
  });
  after(async () => {
    client.close();
    await server.shutdown(1000);
  });

  function call(method: string, request: object, metadata = new grpc.Metadata()): Promise<{ err: grpc.ServiceError | null; headers: grpc.Metadata | undefined }> {
    return new Promise((resolve) => {
      let headers: grpc.Metadata | undefined;
      const c = (client[method] as Function).call(client, request, metadata, (err: grpc.ServiceError | null) => resolve({ err, headers }));
      c.on('metadata', (md: grpc.Metadata) => (headers = md));
    });
  }

  it('delivers BadRequest violations for a missing required field in the trailers', async () => {
    const { err } = await call('getTask', { name: '' });
    assert.equal(err?.code, grpc.status.INVALID_ARGUMENT);
    assert.deepEqual(badRequestFromMetadata(err.metadata), [{ field: 'name', description: 'is required' }]);
  });

  it('maps domain errors and echoes the request id', async () => {
    const md = new grpc.Metadata();
    md.set('x-request-id', 'req-123');
    const { err, headers } = await call('getTask', { name: 'missing' }, md);
    assert.equal(err?.code, grpc.status.NOT_FOUND);
    assert.equal(err.details, 'task "missing" not found');
    assert.deepEqual(headers?.get('x-request-id'), ['req-123']);
  });

  it('never leaks an internal message', async () => {
    const { err } = await call('getExecution', { id: 'e-1' });
    assert.equal(err?.code, grpc.status.INTERNAL);
    assert.equal(err.details, INTERNAL_ERROR_DETAILS);
  });
});
