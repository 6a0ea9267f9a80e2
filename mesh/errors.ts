import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { unreachableStore, unreachableStoreMessage } from "./store-errors.js";

/**
 * Typed errors a handler throws; the mesh turns them into gRPC statuses (and the gateway into HTTP codes).
 * A handler never builds a grpc-js ServiceError by hand, so every failure reaches the caller with a code
 * that says what went wrong and a message that names the problem.
 */
export class RpcError extends Error {
  constructor(
    readonly code: status,
    message: string,
    /** Machine-readable detail, e.g. the offending field; sent as the `rag-error-details-bin` trailer (JSON). */
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

/**
 * The structured details travel as JSON in a binary (`-bin`, base64 on the wire) trailer: a text trailer
 * must be printable ASCII, and grpc-js throws on anything else, which once let a non-ASCII id in a
 * NOT_FOUND crash the whole service. Every status a mesh service sends carries it (`{}` when there is
 * nothing to say), so a client can tell a service's answer from a failure of the transport itself.
 */
export const DETAILS_TRAILER = "rag-error-details-bin";
/** The text form older releases sent; still read so that mixed versions interoperate during a rollout. */
const LEGACY_DETAILS_TRAILER = "rag-error-details";

/** Longest status message sent: messages quote input, and an HTTP/2 trailer block has a size limit. */
const MAX_MESSAGE_CHARS = 1_000;
/** Longest string value inside the details. */
const MAX_DETAIL_CHARS = 300;

/** True for errors that crossed the wire from another service (grpc-js ServiceError shape). */
export function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as ServiceError).code === "number" && (err as ServiceError).metadata instanceof Metadata;
}

/** True when a mesh service sent this status, false when the client's transport made it up. */
export function isMeshStatus(err: ServiceError): boolean {
  return carriesMeshDetails(err.metadata);
}

/** Whether trailers came from a mesh service's own answer (its details trailer), not from grpc-js. */
export function carriesMeshDetails(metadata: Metadata | undefined): boolean {
  return (metadata?.get(DETAILS_TRAILER).length ?? 0) > 0 || (metadata?.get(LEGACY_DETAILS_TRAILER).length ?? 0) > 0;
}

/**
 * A status message safe to send: well-formed UTF-16 (grpc-js percent-encodes the message with encodeURI,
 * which throws on a lone surrogate) and bounded in length.
 */
export function wireMessage(message: string): string {
  const text = message.toWellFormed();
  return text.length <= MAX_MESSAGE_CHARS ? text : `${text.slice(0, MAX_MESSAGE_CHARS - 1)}…`;
}

function boundedDetails(details: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(details)) {
    out[key] = typeof value === "string" && value.length > MAX_DETAIL_CHARS ? `${value.slice(0, MAX_DETAIL_CHARS - 1)}…` : value;
  }
  return out;
}

function detailsTrailer(details: Record<string, unknown>): Metadata {
  const metadata = new Metadata();
  let json: string;
  try {
    json = JSON.stringify(boundedDetails(details)).toWellFormed();
  } catch {
    json = "{}"; // a detail that cannot be serialised (a cycle, a BigInt) is dropped, not fatal
  }
  metadata.set(DETAILS_TRAILER, Buffer.from(json, "utf8"));
  return metadata;
}

/**
 * Maps anything a handler threw to the status sent to the caller. Unknown errors become INTERNAL with a
 * generic message: their text may hold internals (SQL, paths) that a caller must not see; it is logged instead.
 * Never throws: whatever it is given, the caller gets an answer.
 */
export function toServiceError(err: unknown): Partial<ServiceError> & { code: status; details: string } {
  if (err instanceof RpcError) {
    return { code: err.code, details: wireMessage(err.message), metadata: detailsTrailer(err.details) };
  }
  if (isServiceError(err)) {
    // An upstream call failed: pass its code through so the caller sees e.g. UNAVAILABLE, not INTERNAL.
    // Only its details travel on, not whatever other trailers it carried.
    return { code: err.code, details: wireMessage(err.details || err.message), metadata: detailsTrailer(errorDetails(err)) };
  }
  const unreachable = unreachableStore(err);
  if (unreachable) return { code: status.UNAVAILABLE, details: unreachableStoreMessage(unreachable), metadata: detailsTrailer({}) };
  return { code: status.INTERNAL, details: "internal error", metadata: detailsTrailer({}) };
}

/** Reads the structured details another mesh service attached to its error. */
export function errorDetails(err: ServiceError): Record<string, unknown> {
  const binary = err.metadata?.get(DETAILS_TRAILER)[0];
  const legacy = err.metadata?.get(LEGACY_DETAILS_TRAILER)[0];
  const raw = Buffer.isBuffer(binary) ? binary.toString("utf8") : typeof legacy === "string" ? legacy : undefined;
  if (raw === undefined) return {};
  try {
    const parsed: unknown = JSON.parse(raw);
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
