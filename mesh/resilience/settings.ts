import { z } from "zod";

/**
 * The client and server resilience layer's settings, read from environment variables by the service's
 * config (mesh/config.ts: `baseEnvSchema(...).extend(resilienceEnv)`, then `resilienceSettingsFrom`).
 * Nothing in mesh/resilience reads `process.env`: modules take a `ResilienceSettings` (or a part of it).
 *
 * Each layer has one switch that turns it off ("0 disables"), so inside an Istio mesh the sidecar can take
 * that job over without two layers doing it at once:
 *   GRPC_CLIENT_RETRIES=0             ↔ VirtualService retries
 *   GRPC_LB_POLICY=round_robin        ↔ DestinationRule loadBalancer (a ClusterIP Service hides replicas anyway)
 *   GRPC_OUTLIER_FAILURES=0           ↔ DestinationRule outlierDetection
 *   GRPC_BREAKER_FAILURES=0           ↔ (Envoy has no per-dependency breaker; outlier detection + pool limits)
 *   GRPC_CLIENT_MAX_IN_FLIGHT=0       ↔ DestinationRule connectionPool.http.http2MaxRequests
 *   GRPC_SERVER_MAX_IN_FLIGHT=0       ↔ (inbound: Envoy's connection pool on the server sidecar)
 */

const count = z.coerce.number().int().min(0);
const percent = z.coerce.number().int().min(0).max(100);

/** Zod fields named after the variables, so parse errors name the variable (mesh/config.ts `parseEnv`). */
export const resilienceEnv = {
  /**
   * Retries after the first attempt, for idempotent methods only, on UNAVAILABLE. 0 turns retries off.
   * grpc-js allows at most 5 attempts in all, hence at most 4 retries. Default 2 (3 attempts, as before).
   */
  GRPC_CLIENT_RETRIES: z.coerce.number().int().min(0).max(4, "grpc-js allows at most 5 attempts: 4 retries").default(2),
  /** First retry backoff; each further retry waits `GRPC_RETRY_BACKOFF_MULTIPLIER` times longer, ±20 % jitter. */
  GRPC_RETRY_INITIAL_BACKOFF_MS: z.coerce.number().int().min(1).default(100),
  GRPC_RETRY_MAX_BACKOFF_MS: z.coerce.number().int().min(1).default(1_000),
  GRPC_RETRY_BACKOFF_MULTIPLIER: z.coerce.number().min(1).default(2),
  /**
   * The retry budget (gRFC A6 retryThrottling maxTokens; each failure costs 1, each success gives 0.1 back,
   * retries stop below half): about half this many failures in a burst are retried, then one in ten calls.
   * Default 100. grpc's usual 10 let a hung replica's five or six in-flight calls, all failing at once when
   * keepalive dropped its connection, use up the budget, and the next ones failed unretried.
   */
  GRPC_RETRY_BUDGET: z.coerce.number().int().min(2).max(1000).default(100),
  /** Balancing across a dependency's replicas: least_request (power of two choices) or round_robin. */
  GRPC_LB_POLICY: z.enum(["least_request", "round_robin"]).default("least_request"),
  /**
   * Outlier ejection: a replica that answered at least this many calls in one interval, more than
   * GRPC_OUTLIER_FAILURE_PERCENT of them failed, is taken out of the picks. 0 turns ejection off.
   * Default 5. A minimum volume, not a count of consecutive failures: grpc-js has no consecutive-errors
   * mode (Istio's consecutive5xxErrors), only gRFC A50's failure percentage per interval.
   */
  GRPC_OUTLIER_FAILURES: count.default(5),
  GRPC_OUTLIER_FAILURE_PERCENT: percent.default(85),
  /** How often the replicas' failures are counted and ejections reconsidered (Istio: interval, 10 s). */
  GRPC_OUTLIER_INTERVAL_MS: z.coerce.number().int().min(1).default(10_000),
  /** First ejection lasts this long; each further ejection of the same replica one more time this (Istio: 30 s). */
  GRPC_OUTLIER_BASE_EJECTION_MS: z.coerce.number().int().min(1).default(30_000),
  /** Upper bound on one ejection (Envoy's max_ejection_time default, 300 s). */
  GRPC_OUTLIER_MAX_EJECTION_MS: z.coerce.number().int().min(1).default(300_000),
  /** At most this share of a dependency's replicas is ejected at once (at least one may always be). */
  GRPC_OUTLIER_MAX_EJECTION_PERCENT: percent.default(50),
  /**
   * Circuit breaker per dependency: once at least this many calls were made in the window and more than
   * GRPC_BREAKER_ERROR_PERCENT of them failed with UNAVAILABLE or DEADLINE_EXCEEDED, calls fail fast for
   * GRPC_BREAKER_OPEN_MS; then one probe call decides. 0 turns the breaker off.
   */
  GRPC_BREAKER_FAILURES: count.default(10),
  GRPC_BREAKER_ERROR_PERCENT: percent.default(50),
  GRPC_BREAKER_OPEN_MS: z.coerce.number().int().min(1).default(5_000),
  GRPC_BREAKER_WINDOW_MS: z.coerce.number().int().min(1).default(10_000),
  /** Bulkhead: calls in flight at once per dependency (per client channel); 0 = no bound. */
  GRPC_CLIENT_MAX_IN_FLIGHT: count.default(500),
  /** Calls that may wait (within their deadline) for a slot once the bulkhead is full; beyond, refused. */
  GRPC_CLIENT_MAX_QUEUED: count.default(100),
  /** Load shedding: calls (and open streams) one server handles at once; beyond, RESOURCE_EXHAUSTED. 0 = no bound. */
  GRPC_SERVER_MAX_IN_FLIGHT: count.default(1_000),
};

export const resilienceEnvSchema = z.object(resilienceEnv);
export type ResilienceEnv = z.infer<typeof resilienceEnvSchema>;

export interface RetrySettings {
  /** Retries after the first attempt; 0 = off. */
  maxRetries: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  backoffMultiplier: number;
  /** retryThrottling maxTokens (tokenRatio 0.1). */
  budget: number;
}

export interface OutlierSettings {
  /** Minimum calls a replica answered in one interval before it may be ejected; 0 = off. */
  failures: number;
  failurePercent: number;
  intervalMs: number;
  baseEjectionMs: number;
  maxEjectionMs: number;
  maxEjectionPercent: number;
}

export interface BreakerSettings {
  /** Minimum calls in the window before the circuit may open; 0 = off. */
  failures: number;
  errorPercent: number;
  openMs: number;
  windowMs: number;
}

export interface BulkheadSettings {
  /** 0 = no bound. */
  maxInFlight: number;
  maxQueued: number;
}

export interface ResilienceSettings {
  retries: RetrySettings;
  lbPolicy: "least_request" | "round_robin";
  outlier: OutlierSettings;
  breaker: BreakerSettings;
  bulkhead: BulkheadSettings;
  /** Server side: calls in flight before shedding; 0 = no bound. */
  serverMaxInFlight: number;
}

/** The typed settings from parsed variables (any object holding the resilienceEnv keys). */
export function resilienceSettingsFrom(env: ResilienceEnv): ResilienceSettings {
  return {
    retries: {
      maxRetries: env.GRPC_CLIENT_RETRIES,
      initialBackoffMs: env.GRPC_RETRY_INITIAL_BACKOFF_MS,
      maxBackoffMs: Math.max(env.GRPC_RETRY_MAX_BACKOFF_MS, env.GRPC_RETRY_INITIAL_BACKOFF_MS),
      backoffMultiplier: env.GRPC_RETRY_BACKOFF_MULTIPLIER,
      budget: env.GRPC_RETRY_BUDGET,
    },
    lbPolicy: env.GRPC_LB_POLICY,
    outlier: {
      failures: env.GRPC_OUTLIER_FAILURES,
      failurePercent: env.GRPC_OUTLIER_FAILURE_PERCENT,
      intervalMs: env.GRPC_OUTLIER_INTERVAL_MS,
      baseEjectionMs: env.GRPC_OUTLIER_BASE_EJECTION_MS,
      maxEjectionMs: env.GRPC_OUTLIER_MAX_EJECTION_MS,
      maxEjectionPercent: env.GRPC_OUTLIER_MAX_EJECTION_PERCENT,
    },
    breaker: {
      failures: env.GRPC_BREAKER_FAILURES,
      errorPercent: env.GRPC_BREAKER_ERROR_PERCENT,
      openMs: env.GRPC_BREAKER_OPEN_MS,
      windowMs: env.GRPC_BREAKER_WINDOW_MS,
    },
    bulkhead: { maxInFlight: env.GRPC_CLIENT_MAX_IN_FLIGHT, maxQueued: env.GRPC_CLIENT_MAX_QUEUED },
    serverMaxInFlight: env.GRPC_SERVER_MAX_IN_FLIGHT,
  };
}

/** Every default above, typed (what a service gets with none of the variables set). */
export const DEFAULT_RESILIENCE: ResilienceSettings = resilienceSettingsFrom(resilienceEnvSchema.parse({}));
