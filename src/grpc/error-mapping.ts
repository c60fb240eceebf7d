import * as grpc from '@grpc/grpc-js';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { anyIs, anyPack, anyUnpack } from '@bufbuild/protobuf/wkt';
import {
  EtagMismatchError,
  ExecutionNotFoundError,
  FailedPreconditionError,
  InvalidArgumentError,
  ResourceExhaustedError,
  TaskAlreadyExistsError,
  TaskNotFoundError,
  UnavailableError,
  type FieldViolation,
} from '../domain/errors.js';
import { BadRequestSchema } from '../gen/google/rpc/error_details_pb.js';
import { StatusSchema } from '../gen/google/rpc/status_pb.js';
import { GrpcStatusError } from './grpc-status-error.js';

/** The trailer that carries a serialized google.rpc.Status (the gRPC "richer error model"). */
export const STATUS_DETAILS_KEY = 'grpc-status-details-bin';

/** What clients see for anything that is not a known domain error: nothing of the internals. */
export const INTERNAL_ERROR_DETAILS = 'internal error';

/** A grpc-js ServiceError: what unary callbacks take and what server streams emit to end with a status. */
export type GrpcError = grpc.ServiceError;

function grpcError(code: grpc.status, details: string, metadata = new grpc.Metadata()): GrpcError {
  return Object.assign(new Error(details), { code, details, metadata });
}

function badRequestMetadata(code: grpc.status, message: string, violations: readonly FieldViolation[]): grpc.Metadata {
  const badRequest = create(BadRequestSchema, {
    fieldViolations: violations.map((v) => ({ field: v.field, description: v.description })),
  });
  const status = create(StatusSchema, { code, message, details: [anyPack(BadRequestSchema, badRequest)] });
  const bytes = toBinary(StatusSchema, status);
  const metadata = new grpc.Metadata();
  metadata.set(STATUS_DETAILS_KEY, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  return metadata;
}

/** The status a known error maps to; undefined for anything unexpected. */
function knownStatus(err: unknown): { code: grpc.status; details: string } | undefined {
  if (err instanceof InvalidArgumentError) return { code: grpc.status.INVALID_ARGUMENT, details: err.message };
  if (err instanceof TaskNotFoundError || err instanceof ExecutionNotFoundError) {
    return { code: grpc.status.NOT_FOUND, details: err.message };
  }
  if (err instanceof TaskAlreadyExistsError) return { code: grpc.status.ALREADY_EXISTS, details: err.message };
  if (err instanceof EtagMismatchError) return { code: grpc.status.ABORTED, details: err.message };
  if (err instanceof FailedPreconditionError) return { code: grpc.status.FAILED_PRECONDITION, details: err.message };
  if (err instanceof ResourceExhaustedError) return { code: grpc.status.RESOURCE_EXHAUSTED, details: err.message };
  if (err instanceof UnavailableError) return { code: grpc.status.UNAVAILABLE, details: err.message };
  if (err instanceof GrpcStatusError) return { code: err.code, details: err.details };
  return undefined;
}

/**
 * The one place where errors become gRPC statuses, so every RPC answers the same way and no
 * internal message reaches a client (anything unknown is INTERNAL "internal error").
 */
export function toGrpcError(err: unknown): GrpcError {
  const known = knownStatus(err);
  if (known === undefined) return grpcError(grpc.status.INTERNAL, INTERNAL_ERROR_DETAILS);
  if (err instanceof InvalidArgumentError) {
    return grpcError(known.code, known.details, badRequestMetadata(known.code, known.details, err.violations));
  }
  return grpcError(known.code, known.details);
}

/** Handlers log these at error level with the request id: they are bugs or outages, not client mistakes. */
export function isUnexpectedError(err: unknown): boolean {
  return knownStatus(err) === undefined;
}

/**
 * Clients and tests read the field violations of an INVALID_ARGUMENT back out of its trailers;
 * empty when there are none (or the details cannot be decoded).
 */
export function badRequestFromMetadata(md: grpc.Metadata): FieldViolation[] {
  const violations: FieldViolation[] = [];
  for (const value of md.get(STATUS_DETAILS_KEY)) {
    if (typeof value === 'string') continue;
    let status;
    try {
      status = fromBinary(StatusSchema, value);
    } catch {
      continue;
    }
    for (const detail of status.details) {
      if (!anyIs(detail, BadRequestSchema)) continue;
      const badRequest = anyUnpack(detail, BadRequestSchema);
      for (const v of badRequest?.fieldViolations ?? []) {
        violations.push({ field: v.field, description: v.description });
      }
    }
  }
  return violations;
}
