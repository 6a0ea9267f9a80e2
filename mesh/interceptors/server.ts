import type { TokenVerifier } from "../auth/verifier.js";
import type { DescMessage } from "@bufbuild/protobuf";
import { ResourceExhaustedError } from "../errors.js";
import { shedOrEnter, type LoadShedder } from "../resilience/shedding.js";
import { authorize } from "./server-auth.js";
import type { ServerMiddleware } from "./server-call.js";
import { runInContext } from "./server-context.js";
import { enforceDeadline } from "./server-deadline.js";
import { sendStatus } from "./server-errors.js";
import { logCalls } from "./server-logs.js";
import { countCalls } from "./server-metrics.js";
import { checkText } from "./server-text.js";
import { trackCalls, type CallTracker } from "./server-track.js";

export type { CallTracker } from "./server-track.js";
export { compose, type Reply, type ServerCall, type ServerMiddleware } from "./server-call.js";

/** What the middlewares of one method need from the server. */
export interface ServerChain {
  tracker: () => CallTracker;
  verifier: TokenVerifier;
  /** The method's request schema, for the text rule. */
  request: DescMessage;
  /** The server's bound on calls in flight (mesh/resilience/shedding.ts); none when GRPC_SERVER_MAX_IN_FLIGHT=0. */
  shedder?: LoadShedder;
}

/**
 * Load shedding (mesh/resilience/shedding.ts): refuses a call at once with RESOURCE_EXHAUSTED beyond a
 * bound on calls in flight. It sits after the deadline (a refused call still gets its status, metric and
 * log line, and is counted by the drain) and before auth, so an overloaded server spends nothing on it.
 */
function shed(shedder: LoadShedder): ServerMiddleware {
  return async (call, next) => {
    const entry = shedOrEnter(shedder, call.method.path);
    if (!("release" in entry)) throw new ResourceExhaustedError(entry.details);
    try {
      await next();
    } finally {
      entry.release();
    }
  };
}

/**
 * Every inbound call's middlewares, outermost first; each one's `finally` runs in reverse order:
 * 1. send the status (error mapping: toServiceError, and a fallback if sending itself fails);
 * 2. metrics and 3. the log line: they see the final outcome, before it is sent;
 * 4. drain tracking: the call counts as in flight until it is answered;
 * 5. deadline and cancellation: the context's deadline and signal; an abort answers at once;
 * 6. load shedding;
 * 7. auth: the token, then the method's permission; the context then names the caller;
 * 8. the request's text rule;
 * 9. the handler runs in the call's context (AsyncLocalStorage).
 */
export function serverMiddlewares(chain: ServerChain): ServerMiddleware[] {
  return [
    sendStatus(),
    countCalls(),
    logCalls(),
    trackCalls(chain.tracker),
    enforceDeadline(() => chain.tracker().defaultDeadlineMs),
    ...(chain.shedder ? [shed(chain.shedder)] : []),
    authorize(chain.verifier),
    checkText(chain.request),
    runInContext(),
  ];
}
