import { CancelledError, DeadlineExceededError } from "../errors.js";
import type { ServerMiddleware } from "./server-call.js";

/**
 * Every call gets a deadline: the caller's, or `defaultDeadlineMs` when the caller gave none. The context's
 * signal aborts when it passes or the caller cancels, and the call is answered then even if the handler
 * ignores the signal and keeps going (its late result is dropped).
 */
export function enforceDeadline(defaultDeadlineMs: () => number): ServerMiddleware {
  return async (call, next) => {
    const abort = new AbortController();
    const now = Date.now();
    const requested = call.grpc.getDeadline();
    const requestedMs = requested instanceof Date ? requested.getTime() : requested;
    const deadline = Number.isFinite(requestedMs) ? Math.min(requestedMs, now + 24 * 3600_000) : now + defaultDeadlineMs();
    const timer = setTimeout(() => abort.abort(new DeadlineExceededError(`deadline of ${deadline - now} ms exceeded`)), Math.max(0, deadline - now));
    // "cancelled" also fires when grpc-js itself ends the call at the client's deadline.
    call.grpc.once("cancelled", () => abort.abort(Date.now() >= deadline ? new DeadlineExceededError("deadline exceeded") : new CancelledError("call cancelled")));
    call.ctx = { ...call.ctx, deadline, signal: abort.signal };
    const aborted = new Promise<never>((_, reject) =>
      abort.signal.addEventListener("abort", () => reject(abort.signal.reason ?? new DeadlineExceededError("deadline exceeded")), { once: true }),
    );
    try {
      await Promise.race([next(), aborted]);
    } finally {
      clearTimeout(timer);
    }
  };
}
