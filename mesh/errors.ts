import { Metadata, status, type ServiceError } from "@grpc/grpc-js";

/**
 * Typed errors a handler throws; the mesh turns them into gRPC statuses (and the gateway into HTTP codes).
 * A handler never builds a grpc-js ServiceError by hand, so every failure reaches the caller with a code
 * that says what went wrong and a message that names the problem.
 */
export class RpcError extends Error {
  constructor(
    readonly code: status,
    message: string,
    /** Machine-readable detail, e.g. the offending field; sent as `rag-error-details` trailer JSON. */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = `RpcError(${status[code]})`;
  }
}

export class InvalidArgumentError extends RpcError {
  constructor(readonly field: string, problem: string) {
    super(status.INVALID_ARGUMENT, `${field}: ${problem}`, { field });
  }
}
export class NotFoundError extends RpcError {
  constructor(kind: string, id: string) {
    super(status.NOT_FOUND, `${kind} ${JSON.stringify(id)} not found`, { kind, id });
  }
}
export class AlreadyExistsError extends RpcError {
  constructor(kind: string, id: string) {
    super(status.ALREADY_EXISTS, `${kind} ${JSON.stringify(id)} already exists`, { kind, id });
  }
}
export class FailedPreconditionError extends RpcError {
  constructor(message: string) {
    super(status.FAILED_PRECONDITION, message);
  }
}
/** A concurrency check failed (e.g. an expected version); the caller should re-read and retry. */
export class AbortedError extends RpcError {
  constructor(message: string) {
    super(status.ABORTED, message);
  }
}
export class UnauthenticatedError extends RpcError {
  constructor(message: string) {
    super(status.UNAUTHENTICATED, message);
  }
}
export class PermissionDeniedError extends RpcError {
  constructor(message: string) {
    super(status.PERMISSION_DENIED, message);
  }
}
export class ResourceExhaustedError extends RpcError {
  constructor(message: string) {
    super(status.RESOURCE_EXHAUSTED, message);
  }
}
export class UnavailableError extends RpcError {
  constructor(message: string) {
    super(status.UNAVAILABLE, message);
  }
}
export class DeadlineExceededError extends RpcError {
  constructor(message: string) {
    super(status.DEADLINE_EXCEEDED, message);
  }
}
export class CancelledError extends RpcError {
  constructor(message: string) {
    super(status.CANCELLED, message);
  }
}
export class UnimplementedError extends RpcError {
  constructor(method: string) {
    super(status.UNIMPLEMENTED, `${method} is not implemented in this release`);
  }
}

export const DETAILS_TRAILER = "rag-error-details";

/** True for errors that crossed the wire from another service (grpc-js ServiceError shape). */
export function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as ServiceError).code === "number" && (err as ServiceError).metadata instanceof Metadata;
}

/**
 * Maps anything a handler threw to the status sent to the caller. Unknown errors become INTERNAL with a
 * generic message: their text may hold internals (SQL, paths) that a caller must not see; it is logged instead.
 */
export function toServiceError(err: unknown): Partial<ServiceError> & { code: status; details: string } {
  if (err instanceof RpcError) {
    const metadata = new Metadata();
    if (Object.keys(err.details).length > 0) metadata.set(DETAILS_TRAILER, JSON.stringify(err.details));
    return { code: err.code, details: err.message, metadata };
  }
  if (isServiceError(err)) {
    // An upstream call failed: pass its code through so the caller sees e.g. UNAVAILABLE, not INTERNAL.
    return { code: err.code, details: err.details || err.message, metadata: err.metadata };
  }
  return { code: status.INTERNAL, details: "internal error" };
}

/** Reads the structured details another mesh service attached to its error. */
export function errorDetails(err: ServiceError): Record<string, unknown> {
  const raw = err.metadata?.get(DETAILS_TRAILER)[0];
  if (typeof raw !== "string") return {};
  try {
    return JSON.parse(raw) as Record<string, unknown>;
  } catch {
    return {};
  }
}
