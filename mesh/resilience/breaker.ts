import { InterceptingCall, status, type Interceptor, type StatusObject } from "@grpc/grpc-js";
import CircuitBreaker from "opossum";
import { carriesMeshDetails } from "../errors.js";
import { refuseCall } from "./refuse.js";
import type { BreakerSettings } from "./settings.js";

/**
 * A circuit breaker per dependency (one per client channel), as a grpc-js client interceptor.
 *
 * When a dependency keeps failing at the transport level, waiting out every caller's deadline only
 * piles up calls; once the breaker opens, calls fail at once with UNAVAILABLE naming the dependency and
 * when it will be tried again. After `openMs` one call goes through (half-open): if it succeeds the
 * circuit closes, if it fails it stays open for another `openMs`. Calls made while that probe runs are
 * refused too (opossum's half-open lets exactly one through).
 *
 * Only statuses that say the dependency itself is unwell count as failures (UNAVAILABLE,
 * DEADLINE_EXCEEDED by default). INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED… are the caller's
 * doing: they count as answers (opossum's errorFilter), so they never open the circuit. Neither does an
 * UNAVAILABLE the dependency answered itself, at once (a mesh status: "its database is unavailable"): it
 * is up and already failing fast, and saying why; an open circuit would only hide the reason and keep
 * refusing for `openMs` after its store is back. What counts is a dependency that cannot be reached or
 * does not answer.
 *
 * The interceptor sits above grpc-js's retries (interceptors wrap the whole call), so one call with its
 * retries is one sample. A server stream is a sample when it ends, with its final status.
 *
 * opossum's rule, on a rolling window of `windowMs`: the circuit opens when at least `failures` calls
 * were made in the window and more than `errorPercent` % of them failed. Refused calls count as calls
 * in that window (opossum counts every fire), which does not matter once it is open.
 */

/** Statuses that count against the dependency by default: it is down, unreachable or stuck. */
export const TRANSPORT_FAILURES: readonly status[] = [status.UNAVAILABLE, status.DEADLINE_EXCEEDED];

/** A call's non-OK final status, as the breaker's action rejects with it. */
class CallFailed extends Error {
  constructor(readonly status: StatusObject) {
    super(status.details);
  }
}

export type BreakerState = "closed" | "open" | "half-open";

function countsAgainst(s: StatusObject, failureCodes: readonly status[]): boolean {
  if (!failureCodes.includes(s.code)) return false;
  return !(s.code === status.UNAVAILABLE && carriesMeshDetails(s.metadata));
}

export class DependencyBreaker {
  readonly breaker: CircuitBreaker<[start: () => Promise<void>], void>;
  private openedAt = 0;
  private failuresAtOpen = 0;

  constructor(
    readonly dependency: string,
    private readonly settings: BreakerSettings,
    failureCodes: readonly status[] = TRANSPORT_FAILURES,
  ) {
    if (settings.failures < 1) throw new Error(`circuit breaker for ${dependency}: failures must be at least 1 (0 means "no breaker": do not build one)`);
    this.breaker = new CircuitBreaker((start: () => Promise<void>) => start(), {
      // The call's own deadline bounds it; opossum's timer would only duplicate that.
      timeout: false,
      resetTimeout: settings.openMs,
      rollingCountTimeout: settings.windowMs,
      rollingCountBuckets: 10,
      volumeThreshold: settings.failures,
      errorThresholdPercentage: settings.errorPercent,
      // true = "not a failure": the dependency answered, the call was wrong.
      errorFilter: (err: unknown) => !(err instanceof CallFailed && countsAgainst(err.status, failureCodes)),
      name: dependency,
    });
    this.breaker.on("open", () => {
      this.openedAt = Date.now();
      this.failuresAtOpen = this.breaker.stats.failures;
    });
  }

  get state(): BreakerState {
    return this.breaker.opened ? "open" : this.breaker.halfOpen ? "half-open" : "closed";
  }

  /** What a refused call is told: the dependency, why, and when it is tried again. */
  refusal(): string {
    const left = Math.max(0, this.openedAt + this.settings.openMs - Date.now());
    const when = this.breaker.halfOpen ? "a probe call is testing it now" : `retrying in ${(left / 1000).toFixed(1)} s`;
    return `${this.dependency} is unavailable: circuit open after ${this.failuresAtOpen} failures; ${when}`;
  }

  /** The client interceptor: add it to the dependency's client (`interceptors` channel/call option). */
  readonly interceptor: Interceptor = (options, nextCall) => {
    const call = nextCall(options);
    return new InterceptingCall(call, {
      start: (metadata, listener, next) => {
        let settle: (s: StatusObject) => void = () => {};
        let started = false;
        const run = () =>
          new Promise<void>((resolve, reject) => {
            started = true;
            settle = (s) => (s.code === status.OK ? resolve() : reject(new CallFailed(s)));
            next(metadata, {
              onReceiveStatus: (s, forward) => {
                settle(s);
                forward(s);
              },
            });
          });
        this.breaker.fire(run).catch((err: unknown) => {
          // A started call's failures reached the caller already; a call never started is ours to end.
          if (started) return;
          const open = (err as { code?: string }).code === "EOPENBREAKER";
          refuseCall(call, listener, status.UNAVAILABLE, open ? this.refusal() : `${this.dependency}: circuit breaker refused the call: ${(err as Error).message}`);
        });
      },
    });
  };

  /** Stops the breaker's timers (client closed). */
  shutdown(): void {
    this.breaker.shutdown();
  }
}

/** Shorthand: a fresh breaker's interceptor for `dependency`, or none when `settings.failures` is 0. */
export function breakerInterceptor(dependency: string, settings: BreakerSettings): Interceptor | undefined {
  return settings.failures > 0 ? new DependencyBreaker(dependency, settings).interceptor : undefined;
}
