import { registerLeastRequest } from "./least-request.js";
import type { OutlierSettings, ResilienceSettings, RetrySettings } from "./settings.js";

/**
 * The grpc `service_config` (channel option "grpc.service_config", JSON) a client channel to one
 * dependency uses: balancing, outlier ejection, retries and the retry budget, all done by grpc-js itself.
 *
 * What grpc-js 1.14.7 does with it (read in build/src, not assumed):
 * - outlier_detection is built in and on by default (GRPC_EXPERIMENTAL_ENABLE_OUTLIER_DETECTION unset
 *   means "true"). It has no consecutive-errors mode (Envoy's consecutive5xx): only gRFC A50's
 *   success-rate and failure-percentage checks, run every `interval`. We use failure-percentage with
 *   request_volume = GRPC_OUTLIER_FAILURES, so a replica failing every call is ejected at the first
 *   check after it has failed that many. grpc-js counts every status but OK as a failure (Envoy counts
 *   only 5xx-mapped codes), so a replica answering mostly INVALID_ARGUMENT could be ejected too: hence
 *   the high default threshold (85 %) and the max-ejection-percent cap.
 * - An ejection lasts base_ejection_time × (times ejected), capped at max_ejection_time; the multiplier
 *   falls by one per interval spent healthy. There is no active probe: when the time is up the replica
 *   simply gets calls again ("probing back" by traffic), and is ejected for longer if it still fails.
 * - Its durations must be {seconds, nanos} objects; a "10s" string is refused (createFromJson).
 * - Retries: backoff is initial × multiplier^n capped at max, times a ±20 % jitter (retrying-call.js
 *   getNextRetryJitter). All attempts share the call's one deadline (the deadline timer lives in
 *   resolving-call.js, above the retrying call), so retries never outlive the caller's deadline.
 * - retryThrottling: the token bucket of gRFC A6; retries stop once failures drain it.
 */

export interface MethodName {
  /** Fully qualified service, e.g. "rag.v1.RetrievalService". */
  service: string;
  method: string;
}

/** A proto-loader service definition's methods, as `loadSync` returns them (options kept). */
type ProtoLoaderService = Record<string, { options?: Record<string, unknown> } | undefined>;

/**
 * The methods a proto marks `option idempotency_level = NO_SIDE_EFFECTS | IDEMPOTENT`: only those are
 * retried, since retrying a call that changes state could apply the change twice.
 */
export function idempotentMethods(grpcService: string, definition: ProtoLoaderService | undefined): MethodName[] {
  const out: MethodName[] = [];
  for (const [method, def] of Object.entries(definition ?? {})) {
    const level = def?.options?.idempotency_level;
    if (level === "NO_SIDE_EFFECTS" || level === "IDEMPOTENT") out.push({ service: grpcService, method });
  }
  return out;
}

const seconds = (ms: number) => `${ms / 1000}s`;
const duration = (ms: number) => ({ seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 });

/** `loadBalancingConfig`: outlier_detection around the chosen policy, or the policy alone when ejection is off. */
export function loadBalancingConfig(lbPolicy: ResilienceSettings["lbPolicy"], outlier: OutlierSettings): object[] {
  if (lbPolicy === "least_request") registerLeastRequest();
  const child = { [lbPolicy]: {} };
  if (outlier.failures === 0) return [child];
  return [
    {
      outlier_detection: {
        interval: duration(outlier.intervalMs),
        base_ejection_time: duration(outlier.baseEjectionMs),
        max_ejection_time: duration(Math.max(outlier.maxEjectionMs, outlier.baseEjectionMs)),
        max_ejection_percent: outlier.maxEjectionPercent,
        failure_percentage_ejection: {
          threshold: outlier.failurePercent,
          enforcement_percentage: 100,
          // Only judged when at least two replicas had enough calls: ejecting a dependency's only
          // replica never helps (Envoy's panic threshold serves the same end).
          minimum_hosts: 2,
          request_volume: outlier.failures,
        },
        child_policy: [child],
      },
    },
  ];
}

/** The retry policy for idempotent methods: UNAVAILABLE only (the call surely did not run to completion). */
export function retryPolicy(retries: RetrySettings): object {
  return {
    maxAttempts: retries.maxRetries + 1,
    initialBackoff: seconds(retries.initialBackoffMs),
    maxBackoff: seconds(retries.maxBackoffMs),
    backoffMultiplier: retries.backoffMultiplier,
    retryableStatusCodes: ["UNAVAILABLE"],
  };
}

/** The whole service config for one dependency's channel. */
export function buildServiceConfig(idempotent: MethodName[], settings: Pick<ResilienceSettings, "lbPolicy" | "outlier" | "retries">): object {
  const retries = settings.retries.maxRetries > 0 && idempotent.length > 0;
  return {
    loadBalancingConfig: loadBalancingConfig(settings.lbPolicy, settings.outlier),
    methodConfig: retries ? [{ name: idempotent, retryPolicy: retryPolicy(settings.retries) }] : [],
    // gRFC A6 throttling bounds retries when a dependency is down: each failure costs a token, each success
    // returns 0.1, and retries stop while fewer than half the tokens are left.
    ...(retries ? { retryThrottling: { maxTokens: settings.retries.budget, tokenRatio: 0.1 } } : {}),
  };
}
