/**
 * Domain errors: small classes that say what went wrong in the domain's words. Exactly one
 * place (src/grpc/error-mapping.ts) turns them into gRPC statuses; anything else is INTERNAL.
 */

/** One problem with one input field, as google.rpc.BadRequest.FieldViolation will carry it. */
export interface FieldViolation {
  /** Path in the request, e.g. "task.schedule.cron". */
  field: string;
  description: string;
}

export abstract class DomainError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class InvalidArgumentError extends DomainError {
  readonly violations: FieldViolation[];
  constructor(violations: FieldViolation[], options?: { cause?: unknown }) {
    super(violations.map((v) => `${v.field}: ${v.description}`).join('; ') || 'invalid argument', options);
    this.violations = violations;
  }
}

export class InvalidScheduleError extends InvalidArgumentError {}

export class TaskNotFoundError extends DomainError {
  constructor(readonly taskName: string) {
    super(`task "${taskName}" not found`);
  }
}

export class TaskAlreadyExistsError extends DomainError {
  constructor(readonly taskName: string) {
    super(`task "${taskName}" already exists`);
  }
}

export class ExecutionNotFoundError extends DomainError {
  constructor(readonly executionId: string) {
    super(`execution "${executionId}" not found`);
  }
}

/** The caller's etag is stale: somebody changed the task in between (gRPC ABORTED). */
export class EtagMismatchError extends DomainError {
  constructor(readonly taskName: string) {
    super(`task "${taskName}" was changed concurrently: etag is stale, read it again`);
  }
}

/** The operation does not fit the current state (gRPC FAILED_PRECONDITION). */
export class FailedPreconditionError extends DomainError {}

/** A configured limit was reached (gRPC RESOURCE_EXHAUSTED). */
export class ResourceExhaustedError extends DomainError {}

/** The service is shutting down or its store is unavailable (gRPC UNAVAILABLE). */
export class UnavailableError extends DomainError {}
