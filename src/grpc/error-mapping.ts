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
import { PermissionDeniedError, UnauthenticatedError } from '../auth/auth-errors.js';
import { BadRequestSchema } from '../gen/google/rpc/error_details_pb.js';
import { StatusSchema } from '../gen/google/rpc/status_pb.js';
import { GrpcStatusError } from './grpc-status-error.js';

/** The trailer that carries a serialized google.rpc.Status (the gRPC "richer error model"). */
export const STATUS_DETAILS_KEY = 'grpc-status-details-bin';

/** What clients see for anything that is not a known domain error: nothing of the internals. */
export const INTERNAL_ERROR_DETAILS = 'internal error';

/** A grpc-js ServiceError: what unary callbacks take and what server streams emit to end with a status. */
export type GrpcError = grpc.ServiceError;

/**
 * Statuses travel in HTTP/2 trailers, and messages quote client input ("task \"<name>\" not
 * found"). Unbounded, a 1 MiB name becomes a 1 MiB trailer that Node's HTTP/2 refuses to send
 * (the call hangs until its deadline) and proxies reject; so every text is cut to these sizes
 * (UTF-8 bytes), keeping all trailers together under about 8 KiB even when percent-encoded.
 */
export const STATUS_LIMITS = Object.freeze({ detailsBytes: 512, violations: 10, fieldBytes: 100, descriptionBytes: 200 });

/** `text` cut to at most `maxBytes` of UTF-8 (on a character boundary), marked with "…" when cut. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  let out = '';
  let bytes = 0;
  for (const ch of text) {
    const size = Buffer.byteLength(ch, 'utf8');
    if (bytes + size > maxBytes - 3) break;
    out += ch;
    bytes += size;
  }
  return `${out}…`;
}

function grpcError(code: grpc.status, details: string, metadata = new grpc.Metadata()): GrpcError {
  const bounded = truncateUtf8(details, STATUS_LIMITS.detailsBytes);
  return Object.assign(new Error(bounded), { code, details: bounded, metadata });
}

function badRequestMetadata(code: grpc.status, message: string, all: readonly FieldViolation[]): grpc.Metadata {
  const violations = all.slice(0, STATUS_LIMITS.violations);
  const omitted = all.length - violations.length;
  const fieldViolations = violations.map((v) => ({
    field: truncateUtf8(v.field, STATUS_LIMITS.fieldBytes),
    description: truncateUtf8(v.description, STATUS_LIMITS.descriptionBytes),
  }));
  if (omitted > 0) {
    const last = fieldViolations[fieldViolations.length - 1]!;
    last.description = truncateUtf8(`${last.description} (and ${omitted} more violations not listed)`, STATUS_LIMITS.descriptionBytes + 50);
  }
  const badRequest = create(BadRequestSchema, { fieldViolations });
  const status = create(StatusSchema, { code, message: truncateUtf8(message, STATUS_LIMITS.detailsBytes), details: [anyPack(BadRequestSchema, badRequest)] });
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
  if (err instanceof UnauthenticatedError) return { code: grpc.status.UNAUTHENTICATED, details: err.message };
  if (err instanceof PermissionDeniedError) return { code: grpc.status.PERMISSION_DENIED, details: err.message };
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
