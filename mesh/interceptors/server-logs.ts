import { status } from "@grpc/grpc-js";
import { runInCall } from "../context.js";
import { toServiceError } from "../errors.js";
import { errorFields, log } from "../logger.js";
import type { ServerMiddleware } from "./server-call.js";

/** Codes that mean this service (or one behind it) failed, as opposed to the caller asking for something wrong. */
function isServerFault(code: status): boolean {
  return code === status.INTERNAL || code === status.UNKNOWN || code === status.DATA_LOSS || code === status.UNAVAILABLE;
}

/** One line per call: info when it succeeded, error when the service failed, warn when the caller was refused. */
export function logCalls(): ServerMiddleware {
  return async (call, next) => {
    let failure: { err: unknown } | undefined;
    try {
      await next();
    } catch (err) {
      failure = { err };
      throw err;
    } finally {
      const code = failure ? toServiceError(failure.err).code : status.OK;
      const seconds = Number(process.hrtime.bigint() - call.startedAt) / 1e9;
      const { ctx } = call;
      const fields = { rpc: call.method.path, code: status[code] ?? String(code), duration_ms: Math.round(seconds * 1e4) / 10, tenant: ctx.tenantId, caller: ctx.callerId, request_id: ctx.requestId };
      runInCall(ctx, () => {
        if (!failure) log.info("rpc", fields);
        else if (isServerFault(code)) log.error("rpc failed", { ...fields, ...errorFields(failure.err) });
        else log.warn("rpc rejected", { ...fields, error: failure.err instanceof Error ? failure.err.message : String(failure.err) });
      });
    }
  };
}
