import { ServerInterceptingCall, status, type ServerInterceptor } from "@grpc/grpc-js";

/**
 * Load shedding for one server: at most `maxInFlight` calls (and open streams) handled at once; beyond,
 * a call is answered RESOURCE_EXHAUSTED at once instead of queueing behind the others, so a burst costs
 * the excess callers a fast error (which their client may retry elsewhere) rather than everyone a
 * latency collapse past their deadlines.
 *
 * Health checks and reflection are never shed: an overloaded replica must still answer its readiness
 * probes, or the orchestrator would restart it for being busy.
 *
 * The runtime's server middleware uses `tryEnter`/`leave` around each handler (see `shedOrEnter` for the
 * usual shape); `sheddingInterceptor` does the same as a grpc-js server interceptor.
 */

/** Services a shedder always lets through (probes and tooling). */
export const NEVER_SHED: readonly string[] = ["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"];

export interface ShedError {
  code: status;
  details: string;
}

export class LoadShedder {
  private active = 0;

  /** `maxInFlight` 0 means no bound (Istio or another layer sheds instead). */
  constructor(
    readonly service: string,
    readonly maxInFlight: number,
  ) {
    if (!Number.isInteger(maxInFlight) || maxInFlight < 0) throw new Error(`load shedding for ${service}: maxInFlight must be a whole number ≥ 0, got ${maxInFlight}`);
  }

  get inFlight(): number {
    return this.active;
  }

  /** True for methods that are never shed; `path` as grpc-js gives it, "/pkg.Service/Method". */
  isExempt(path: string): boolean {
    const service = path.split("/")[1] ?? "";
    return NEVER_SHED.includes(service);
  }

  /** Takes a slot if one is free. Every true must be paired with one `leave()` when the call ends. */
  tryEnter(): boolean {
    if (this.maxInFlight > 0 && this.active >= this.maxInFlight) return false;
    this.active++;
    return true;
  }

  leave(): void {
    if (this.active > 0) this.active--;
  }

  /** What a shed call is answered. */
  get error(): ShedError {
    return {
      code: status.RESOURCE_EXHAUSTED,
      details: `service ${this.service} is over its limit of ${this.maxInFlight} calls in flight; retry later`,
    };
  }
}

/**
 * The usual shape of a middleware around one call: `{ release }` when the call may run (`release` must be
 * called exactly once when it ends; calling it again does nothing), or the error to answer with.
 */
export function shedOrEnter(shedder: LoadShedder, path: string): { release: () => void } | ShedError {
  if (shedder.isExempt(path)) return { release: () => {} };
  if (!shedder.tryEnter()) return shedder.error;
  let released = false;
  return {
    release: () => {
      if (released) return;
      released = true;
      shedder.leave();
    },
  };
}

/**
 * The shedder as a grpc-js server interceptor (`new Server({ interceptors: [...] })`). A shed call is
 * answered before its handler sees anything; an admitted one holds its slot until its status is sent or
 * the client cancels it, whichever comes first (a stream counts while it is open).
 */
export function sheddingInterceptor(shedder: LoadShedder): ServerInterceptor {
  return (method, call) => {
    const admitted = shedOrEnter(shedder, method.path);
    if (!("release" in admitted)) {
      return new ServerInterceptingCall(call, {
        start: (next) => {
          // Swallow what the client sends so the handler never runs, then answer.
          next({ onReceiveMetadata: () => {}, onReceiveMessage: () => {}, onReceiveHalfClose: () => {} });
          call.sendStatus(admitted);
        },
      });
    }
    return new ServerInterceptingCall(call, {
      start: (next) => next({ onCancel: () => admitted.release() }),
      sendStatus: (s, next) => {
        admitted.release();
        next(s);
      },
    });
  };
}
