import { InterceptingCall, type Interceptor } from "@grpc/grpc-js";
import { randomUUID } from "node:crypto";
import { PROPAGATED_KEYS, REQUEST_ID_KEY, currentCall } from "../context.js";
import { DeadlineExceededError } from "../errors.js";

/**
 * Carries the call being served (if any) onto the outbound one: its request id, and its deadline as a cap
 * on the outbound budget, so a dependency never works for a caller who has given up. With no time left the
 * call is refused before it is made: the interceptor throws, so the caller's promise rejects with the same
 * DeadlineExceededError (and no metric) as when this check ran before grpc-js.
 */
export function propagateContext(): Interceptor {
  return (options, nextCall) => {
    const parent = currentCall();
    if (!parent) {
      // A call of its own (CLI, a test, a job's first call) still gets a request id, set once above grpc-js's
      // retries: every attempt carries the same one, which is what lets a server recognise a retried Ask.
      return new InterceptingCall(nextCall(options), {
        start(metadata, listener, next) {
          if (metadata.get(REQUEST_ID_KEY).length === 0) metadata.set(REQUEST_ID_KEY, randomUUID());
          next(metadata, listener);
        },
      });
    }
    if (parent.deadline <= Date.now()) {
      throw new DeadlineExceededError(`no time left to call ${options.method_definition.path}: the inbound deadline has passed`);
    }
    const asked = options.deadline instanceof Date ? options.deadline.getTime() : (options.deadline ?? Infinity);
    const deadline = new Date(Math.min(asked, parent.deadline));
    return new InterceptingCall(nextCall({ ...options, deadline }), {
      start(metadata, listener, next) {
        for (const key of PROPAGATED_KEYS) {
          const value = parent.metadata.get(key)[0];
          // Metadata the caller gave explicitly wins over what is inherited.
          if (typeof value === "string" && metadata.get(key).length === 0) metadata.set(key, value);
        }
        next(metadata, listener);
      },
    });
  };
}
