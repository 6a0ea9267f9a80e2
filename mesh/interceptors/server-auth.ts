import { authorizeCall } from "../auth/index.js";
import type { TokenVerifier } from "../auth/verifier.js";
import type { ServerMiddleware } from "./server-call.js";

/** Verifies the caller's token and the method's permission; the context then carries who is calling. */
export function authorize(verifier: TokenVerifier): ServerMiddleware {
  return async (call, next) => {
    const authorization = call.ctx.metadata.get("authorization")[0];
    const principal = await authorizeCall(verifier, call.method.path, typeof authorization === "string" ? authorization : undefined);
    if (principal) call.ctx = { ...call.ctx, principal, tenantId: principal.tenantId || undefined, callerId: principal.userId };
    await next();
  };
}
