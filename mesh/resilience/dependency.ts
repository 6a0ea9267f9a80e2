import type { Interceptor } from "@grpc/grpc-js";
import { DependencyBreaker } from "./breaker.js";
import { Bulkhead } from "./bulkhead.js";
import { buildServiceConfig, type MethodName } from "./service-config.js";
import type { ResilienceSettings } from "./settings.js";

/**
 * Everything the client side needs for one dependency's channel, built from the settings: the
 * service config (balancing, outlier ejection, retries — done inside grpc-js) and the interceptors
 * (bulkhead, circuit breaker — done above it). Layers whose setting is 0 are simply absent.
 *
 * Interceptor order (grpc-js runs the first in the list outermost):
 *   bulkhead → breaker → grpc-js (retries, balancing, outlier ejection)
 * The bulkhead is outside so a call the breaker refuses gives its slot back at once, and the bulkhead's
 * own refusals (RESOURCE_EXHAUSTED, the dependency never asked) never reach the breaker's counts. The
 * breaker is outside grpc-js's retries, so one call with all its attempts is one sample.
 * (A refused call holds its slot until its status is delivered, on the next tick, as grpc-js delivers
 * every status: calls started in the same tick as many as the bound may get the bulkhead's
 * RESOURCE_EXHAUSTED rather than the breaker's UNAVAILABLE; both fail fast.) The other order would let
 * the bulkhead's refusals count as answers in the breaker's window, so a hung dependency that fills the
 * bulkhead would dilute its own error rate and keep the circuit closed.
 * The runtime's own interceptors (auth, deadline, metrics) go outside these, so metrics see refusals too.
 */
export interface DependencyResilience {
  serviceConfig: object;
  interceptors: Interceptor[];
  breaker?: DependencyBreaker;
  bulkhead?: Bulkhead;
  /** Stops the breaker's timers; call when the client closes. */
  close(): void;
}

export function dependencyResilience(dependency: string, idempotent: MethodName[], settings: ResilienceSettings): DependencyResilience {
  const bulkhead = settings.bulkhead.maxInFlight > 0 ? new Bulkhead(dependency, settings.bulkhead) : undefined;
  const breaker = settings.breaker.failures > 0 ? new DependencyBreaker(dependency, settings.breaker) : undefined;
  return {
    serviceConfig: buildServiceConfig(idempotent, settings),
    interceptors: [bulkhead?.interceptor, breaker?.interceptor].filter((i): i is Interceptor => i !== undefined),
    breaker,
    bulkhead,
    close: () => breaker?.shutdown(),
  };
}
