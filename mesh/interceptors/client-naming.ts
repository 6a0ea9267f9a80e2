import { InterceptingCall, Metadata, status, type Interceptor, type ServiceError, type StatusObject } from "@grpc/grpc-js";
import { isMeshStatus, isServiceError } from "../errors.js";

/** Codes grpc-js makes up on the client side when the transport, not the service, failed. */
const TRANSPORT_CODES = new Set([status.UNAVAILABLE, status.DEADLINE_EXCEEDED, status.CANCELLED, status.INTERNAL, status.UNKNOWN, status.RESOURCE_EXHAUSTED]);

function transportReason(code: status, text: string): string {
  switch (code) {
    case status.UNAVAILABLE:
      return /drop|GOAWAY|RST_STREAM|closed|reset/i.test(text) ? "is unavailable: the connection was lost" : "is unavailable: could not connect";
    case status.DEADLINE_EXCEEDED:
      return "did not answer within the call's deadline";
    case status.CANCELLED:
      return "call was cancelled";
    case status.RESOURCE_EXHAUSTED:
      return "answered with a message over the size limit";
    default:
      return "failed at the transport level";
  }
}

/**
 * A status grpc-js made up itself (no connection, a dropped connection, the deadline) carries text such as
 * "No connection established. Last error: connect ECONNREFUSED 127.0.0.1:50053": internal addresses that
 * would travel on into other services' errors, job records and HTTP bodies. Such a status is replaced by
 * one that names the service; the original stays as `cause`, which the logs show. A status a mesh service
 * sent (it carries the details trailer) is passed on untouched.
 */
export function transportFailureNamed(service: string, err: unknown): unknown {
  if (!isServiceError(err) || isMeshStatus(err) || !TRANSPORT_CODES.has(err.code)) return err;
  // The resilience layer's own refusals (circuit open, bulkhead full) already name the dependency and why.
  if (err.details?.startsWith(`${service} `)) return err;
  const details = `${service} ${transportReason(err.code, err.details ?? err.message)}`;
  const named = new Error(`${err.code} ${status[err.code]}: ${details}`, { cause: err }) as ServiceError;
  return Object.assign(named, { code: err.code, details, metadata: new Metadata() });
}

/**
 * The same rewrite on the status, before grpc-js turns it into the caller's error: grpc-js copies every
 * field of the status onto that error, `cause` included.
 */
export function nameTransportFailures(service: string): Interceptor {
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        next(metadata, {
          onReceiveStatus(received, nextStatus) {
            if (received.code === status.OK) return nextStatus(received);
            const original = Object.assign(new Error(`${received.code} ${status[received.code]}: ${received.details}`), received);
            const named = transportFailureNamed(service, original);
            if (named === original) return nextStatus(received);
            const { code, details, metadata: trailers } = named as ServiceError;
            nextStatus({ code, details, metadata: trailers, cause: original } as StatusObject);
          },
        });
      },
    });
}
