import { status } from "@grpc/grpc-js";
import { toServiceError } from "../errors.js";
import { methodLabels, serverHandled, serverHandling, serverInFlight, serverStarted } from "../metrics.js";
import type { ServerMiddleware } from "./server-call.js";

/** go-grpc-prometheus's server series: started, in flight, handled by code, handling time. */
export function countCalls(): ServerMiddleware {
  return async (call, next) => {
    const labels = { ...methodLabels(call.method.path), grpc_type: call.type };
    serverStarted.inc(labels);
    serverInFlight.inc({ grpc_service: labels.grpc_service });
    let code: status = status.OK;
    try {
      await next();
    } catch (err) {
      code = toServiceError(err).code;
      throw err;
    } finally {
      serverInFlight.dec({ grpc_service: labels.grpc_service });
      const grpc_code = status[code] ?? String(code);
      serverHandled.inc({ ...labels, grpc_code });
      serverHandling.observe({ ...labels, grpc_code }, Number(process.hrtime.bigint() - call.startedAt) / 1e9);
    }
  };
}
