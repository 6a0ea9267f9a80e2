import { status } from "@grpc/grpc-js";
import { RpcError, errorDetails, isMeshStatus, isServiceError } from "#mesh/errors.js";
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

/** Codes grpc-js makes up on the client side when the transport, not the service, failed. */
const TRANSPORT_CODES = new Set([status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.CANCELLED, status.INTERNAL, status.UNKNOWN, status.RESOURCE_EXHAUSTED]);

/** host:port, IPv4 or bracketed IPv6, or grpc-js's own fields that name a peer. */
const ADDRESS = /\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b|\[[0-9a-f:.]+\](:\d+)?|\b[\w.-]+:\d{2,5}\b|remote_addr|local_addr|ipv[46]:|unix:/i;
/** Texts grpc-js writes itself when a connection fails (as opposed to a service answering with that code). */
const CONNECTION_FAILURE = /No connection established|ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENOTFOUND|getaddrinfo|Connection dropped|Name resolution failed|Deadline exceeded after|RST_STREAM|GOAWAY|Call cancelled|Received HTTP status code|Stream refused|Protocol error/i;
/** Stack frames ("    at fn (file:line)") never leave the gateway. */
const STACK = /\n\s+at\s|\.ts:\d+|\.js:\d+|node:internal/;

/** What the client is told when the transport to `upstream` failed, by code: no address, no grpc-js internals. */
function transportMessage(code: status, upstream: string): string {
  switch (code) {
    case status.UNAVAILABLE:
      return `${upstream} is unavailable: retry later`;
    case status.DEADLINE_EXCEEDED:
      return `${upstream} did not answer in time`;
    case status.CANCELLED:
      return `the call to ${upstream} was cancelled`;
    case status.RESOURCE_EXHAUSTED:
      return `${upstream} answered with a message over the size limit`;
    default:
      return `the call to ${upstream} failed`;
  }
}

/**
 * Whatever a request failed with, as the error the client sees. Upstream statuses a mesh service sent (they
 * carry its details trailer) keep their code, message and details: services write their messages for
 * callers. A status grpc-js made up itself (no connection, a dropped connection, the deadline) carries
 * internal addresses and transport jargon: it keeps its code but gets a message naming only the upstream
 * service (`upstream`, e.g. "documents"); the original is logged. Anything else the gateway did not expect
 * becomes a generic INTERNAL, logged with its real cause.
 */
export function toHttpError(err: unknown, requestId: string, upstream = "the service"): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof RpcError) {
    const details = Object.keys(err.details).length > 0 ? [err.details] : [];
    return grpcError(err.code, err.message, details);
  }
  if (isServiceError(err)) {
    const text = err.details || err.message;
    const madeUp = !isMeshStatus(err) && TRANSPORT_CODES.has(err.code) && (CONNECTION_FAILURE.test(text) || ADDRESS.test(text) || STACK.test(text));
    if (madeUp || STACK.test(text)) {
      // Logged with the address for the operator; the client learns which service and what to do.
      log.warn("upstream call failed", { request_id: requestId, upstream, code: status[err.code], error: text });
      return grpcError(err.code, transportMessage(err.code, upstream));
    }
    const trailer = errorDetails(err);
    return grpcError(err.code, text, Object.keys(trailer).length > 0 ? [trailer] : []);
  }
  log.error("gateway request failed", { request_id: requestId, ...errorFields(err) });
  return grpcError(status.INTERNAL, "internal error");
}

export function errorBody(err: HttpError): ErrorBody {
  return { code: err.grpcCode, status: status[err.grpcCode] ?? "UNKNOWN", message: err.message, details: err.details };
}
