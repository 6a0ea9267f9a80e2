import type { MethodDefinition, ServerUnaryCall, ServerWritableStream, ServiceError, status } from "@grpc/grpc-js";
import type { CallContext } from "../context.js";

/** One inbound call as it goes through the server middlewares (server.ts) to its handler. */
export interface ServerCall {
  readonly method: MethodDefinition<unknown, unknown>;
  readonly type: "unary" | "server_stream";
  /** grpc-js's call: metadata, deadline, the "cancelled" event. */
  readonly grpc: ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>;
  readonly request: unknown;
  /** When the call arrived (process.hrtime), for its duration in metrics and logs. */
  readonly startedAt: bigint;
  /**
   * What the handler sees. The deadline middleware gives it its deadline and signal, auth its principal,
   * tenant and caller; middlewares after those read the final one.
   */
  ctx: CallContext;
  /** Sends the outcome to the caller; used once, by the error-mapping middleware. */
  readonly reply: Reply;
}

export interface Reply {
  ok(): void;
  error(err: Partial<ServiceError> & { code: status; details: string }): void;
}

/**
 * A server middleware in the style of nice-grpc: it does its part around `next`, which runs the rest of the
 * chain and the handler. A failure is a rejection that travels back out through every middleware.
 */
export type ServerMiddleware = (call: ServerCall, next: () => Promise<void>) => Promise<void>;

/** Runs `middlewares` in order around `handler`. */
export function compose(middlewares: readonly ServerMiddleware[], handler: (call: ServerCall) => Promise<void>): (call: ServerCall) => Promise<void> {
  return (call) => {
    const run = (i: number): Promise<void> => {
      const middleware = middlewares[i];
      return middleware ? middleware(call, () => run(i + 1)) : handler(call);
    };
    return run(0);
  };
}
