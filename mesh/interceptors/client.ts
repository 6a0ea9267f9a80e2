import type { Interceptor } from "@grpc/grpc-js";
import type { ServiceTokenMinter } from "../auth/service-token.js";
import { authenticateCalls, type ClientAuth } from "./client-auth.js";
import { propagateContext } from "./client-context.js";
import { countCalls } from "./client-metrics.js";
import { nameTransportFailures } from "./client-naming.js";

export type { ClientAuth } from "./client-auth.js";

/** What the interceptors of one client need: the dependency it calls and how its calls authenticate. */
export interface ClientChain {
  /** The dependency, e.g. "retrieval": named in transport failures (and the resilience layer's key). */
  dependency: string;
  auth: ClientAuth;
  tokens: Pick<ServiceTokenMinter, "authorization">;
  /**
   * The dependency's resilience interceptors (bulkhead, circuit breaker: mesh/resilience/dependency.ts),
   * innermost. grpc-js's retries run below every interceptor, so these see one final status per call.
   */
  resilience?: Interceptor[];
}

/**
 * Every mesh client's interceptors, outermost first (grpc-js calls the first one first, and its listener
 * sees the status last):
 * 1. context: the inbound call's request id and deadline cap; no time left, no call;
 * 2. naming: grpc-js's own transport statuses become "<dependency> is unavailable…" (after metrics, which
 *    count the raw code);
 * 3. auth: the service token (or bearer) is added; minting may wait;
 * 4. metrics: timed from here, once credentials are ready;
 * 5. resilience.
 */
export function clientInterceptors(chain: ClientChain): Interceptor[] {
  return [
    propagateContext(),
    nameTransportFailures(chain.dependency),
    authenticateCalls(chain.auth, chain.tokens),
    countCalls(),
    // A layer switched off (its setting 0, Istio doing that job) gives no interceptor; metrics above count refusals.
    ...(chain.resilience ?? []),
  ];
}
