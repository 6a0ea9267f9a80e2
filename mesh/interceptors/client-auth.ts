import { InterceptingCall, Metadata, status, type Interceptor } from "@grpc/grpc-js";
import type { ServiceTokenMinter } from "../auth/service-token.js";
import { CALLER_KEY, TENANT_KEY, currentCall } from "../context.js";

/**
 * How a client's calls authenticate. "service": a service token for the tenant and user of the call being
 * served, or those named by `x-tenant-id` / `x-caller-id` metadata (background work). "none": no
 * credentials (public methods). `{ bearer }`: a caller's own access token (the CLI, applications).
 */
export type ClientAuth = "service" | "none" | { bearer: string };

/** Adds `authorization` unless the call already carries one; minting a token may wait, so `next` runs later. */
export function authenticateCalls(auth: ClientAuth, tokens: Pick<ServiceTokenMinter, "authorization">): Interceptor {
  return (options, nextCall) => {
    if (auth === "none") return new InterceptingCall(nextCall(options));
    const parent = currentCall();
    let cancelled = false;
    return new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        if (metadata.get("authorization").length > 0) return next(metadata, listener);
        if (typeof auth === "object") {
          metadata.set("authorization", `Bearer ${auth.bearer}`);
          return next(metadata, listener);
        }
        const given = (key: string) => {
          const v = metadata.get(key)[0];
          return typeof v === "string" ? v : undefined;
        };
        tokens.authorization(given(TENANT_KEY) ?? parent?.tenantId, given(CALLER_KEY) ?? parent?.callerId).then(
          (value) => {
            if (cancelled) return;
            if (value) metadata.set("authorization", value);
            next(metadata, listener);
          },
          (err: Error) => {
            if (!cancelled) listener.onReceiveStatus({ code: status.INTERNAL, details: `could not mint a service token: ${err.message}`, metadata: new Metadata() });
          },
        );
      },
      cancel(next) {
        cancelled = true;
        next();
      },
    });
  };
}
