import { runInCall } from "../context.js";
import type { ServerMiddleware } from "./server-call.js";

/** The handler runs in the call's context: logs carry its ids, outbound clients inherit its deadline and identity. */
export function runInContext(): ServerMiddleware {
  return (call, next) => runInCall(call.ctx, next);
}
