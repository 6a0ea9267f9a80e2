import { status } from "@grpc/grpc-js";
import { RpcError, errorDetails, isServiceError } from "#mesh/errors.js";
import { log, errorFields } from "#mesh/logger.js";

/**
 * An answer the gateway gives without (or instead of) an upstream response: a refused policy check, a bad
 * request, an upstream failure. Carries both the HTTP status and the gRPC code the JSON body reports.
 */
export class HttpError extends Error {
  readonly headers: Record<string, string>;
  readonly details: unknown[];
  constructor(
    readonly status: number,
    readonly grpcCode: status,
    message: string,
    opts: { headers?: Record<string, string>; details?: unknown[] } = {},
  ) {
    super(message);
    this.name = `HttpError(${status})`;
    this.headers = opts.headers ?? {};
    this.details = opts.details ?? [];
  }
}

/** The body of every error response, and of SSE/NDJSON error events. */
export interface ErrorBody {
  code: number;
  status: string;
  message: string;
  details: unknown[];
}

/** gRPC code → HTTP status, the table grpc-gateway uses (google.rpc.Code mapping). */
export function httpStatusFor(code: status): number {
  switch (code) {
    case status.OK:
      return 200;
    case status.CANCELLED:
      return 499;
    case status.INVALID_ARGUMENT:
    case status.FAILED_PRECONDITION:
    case status.OUT_OF_RANGE:
      return 400;
    case status.UNAUTHENTICATED:
      return 401;
    case status.PERMISSION_DENIED:
      return 403;
    case status.NOT_FOUND:
      return 404;
    case status.ALREADY_EXISTS:
    case status.ABORTED:
      return 409;
    case status.RESOURCE_EXHAUSTED:
      return 429;
    case status.UNIMPLEMENTED:
      return 501;
    case status.UNAVAILABLE:
      return 503;
    case status.DEADLINE_EXCEEDED:
      return 504;
    default:
      return 500;
  }
}

/** An HttpError whose HTTP status follows from the gRPC code. */
export function grpcError(code: status, message: string, details: unknown[] = []): HttpError {
  return new HttpError(httpStatusFor(code), code, message, { details });
}

export function invalidArgument(message: string, field?: string): HttpError {
  return grpcError(status.INVALID_ARGUMENT, message, field === undefined ? [] : [{ field }]);
}

/**
 * Whatever a request failed with, as the error the client sees. Upstream statuses keep their code and
 * message (the services sanitise their own messages) plus the `rag-error-details` trailer; anything the
 * gateway did not expect becomes a generic INTERNAL, logged with its real cause.
 */
/** Connection-level failures grpc-js reports itself (as opposed to a service answering UNAVAILABLE). */
const CONNECTION_FAILURE = /No connection established|ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENOTFOUND|getaddrinfo|Connection dropped|Name resolution failed/;

export function toHttpError(err: unknown, requestId: string): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof RpcError) {
    const details = Object.keys(err.details).length > 0 ? [err.details] : [];
    return grpcError(err.code, err.message, details);
  }
  if (isServiceError(err)) {
    if (err.code === status.UNAVAILABLE && CONNECTION_FAILURE.test(err.details)) {
      // grpc-js's own text names the upstream's address: log it, tell the client only what to do.
      log.warn("upstream unreachable", { request_id: requestId, error: err.details });
      return grpcError(status.UNAVAILABLE, "the service is unavailable: retry later");
    }
    const trailer = errorDetails(err);
    return grpcError(err.code, err.details || err.message, Object.keys(trailer).length > 0 ? [trailer] : []);
  }
  log.error("gateway request failed", { request_id: requestId, ...errorFields(err) });
  return grpcError(status.INTERNAL, "internal error");
}

export function errorBody(err: HttpError): ErrorBody {
  return { code: err.grpcCode, status: status[err.grpcCode] ?? "UNKNOWN", message: err.message, details: err.details };
}
