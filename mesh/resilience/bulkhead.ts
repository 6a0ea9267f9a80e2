import { InterceptingCall, status, type Deadline, type Interceptor } from "@grpc/grpc-js";
import { refuseCall } from "./refuse.js";
import type { BulkheadSettings } from "./settings.js";

/**
 * A bulkhead per dependency (one per client channel), as a grpc-js client interceptor: at most
 * `maxInFlight` calls to the dependency at once, so one slow dependency cannot take every socket, timer
 * and byte of memory of the caller, and calls to the others keep flowing (Istio: connectionPool
 * http2MaxRequests, with http1MaxPendingRequests as the queue).
 *
 * Beyond the bound a call waits in a queue of at most `maxQueued` for a slot, never past its own
 * deadline; a call that finds the queue full, or whose deadline comes first, ends at once with
 * RESOURCE_EXHAUSTED naming the dependency and the bound. RESOURCE_EXHAUSTED rather than
 * DEADLINE_EXCEEDED on a queue timeout: the dependency was never asked, so nothing (a breaker, a
 * retry) should read it as the dependency failing. A server stream holds its slot until it ends.
 */
export class Bulkhead {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    readonly dependency: string,
    private readonly settings: BulkheadSettings,
  ) {
    if (settings.maxInFlight < 1) throw new Error(`bulkhead for ${dependency}: maxInFlight must be at least 1 (0 means "no bulkhead": do not build one)`);
  }

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  private describe(): string {
    const { maxInFlight, maxQueued } = this.settings;
    return `${this.dependency} has ${maxInFlight} calls in flight, its bulkhead limit (GRPC_CLIENT_MAX_IN_FLIGHT)${maxQueued > 0 ? `, and ${maxQueued} waiting (GRPC_CLIENT_MAX_QUEUED)` : ""}`;
  }

  private release(): void {
    this.active--;
    const next = this.waiting.shift();
    if (next) next();
  }

  /** The client interceptor: add it to the dependency's client (`interceptors` channel/call option). */
  readonly interceptor: Interceptor = (options, nextCall) => {
    const call = nextCall(options);
    // queued: waiting for a slot; running: holds a slot; done: ended (answered or refused).
    let phase: "new" | "queued" | "running" | "done" = "new";
    let dequeue = () => {};
    let refuse: (code: status, details: string) => void = () => {};
    return new InterceptingCall(call, {
      start: (metadata, listener, next) => {
        const run = () => {
          phase = "running";
          this.active++;
          next(metadata, {
            onReceiveStatus: (s, forward) => {
              if (phase === "running") {
                phase = "done";
                this.release();
              }
              forward(s);
            },
          });
        };
        refuse = (code: status, details: string) => {
          phase = "done";
          refuseCall(call, listener, code, details);
        };
        if (this.active < this.settings.maxInFlight) return run();
        const leftMs = msLeft(options.deadline);
        if (this.waiting.length >= this.settings.maxQueued || leftMs <= 0) {
          return refuse(status.RESOURCE_EXHAUSTED, `${this.describe()}; call refused, retry later`);
        }
        phase = "queued";
        const started = Date.now();
        const entry = () => {
          clearTimeout(timer);
          run();
        };
        const timer =
          leftMs === Infinity
            ? undefined
            : setTimeout(() => {
                dequeue();
                refuse(status.RESOURCE_EXHAUSTED, `${this.describe()}; no slot freed within the call's deadline (${Date.now() - started} ms)`);
              }, leftMs);
        dequeue = () => {
          clearTimeout(timer);
          const i = this.waiting.indexOf(entry);
          if (i >= 0) this.waiting.splice(i, 1);
        };
        this.waiting.push(entry);
      },
      cancel: (next) => {
        // A queued call never reached grpc-js below, so its cancellation is ours to report.
        if (phase === "queued") {
          dequeue();
          refuse(status.CANCELLED, "Cancelled on client");
          return;
        }
        next();
      },
    });
  };
}

function msLeft(deadline: Deadline | undefined): number {
  if (deadline === undefined) return Infinity;
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return at === Infinity ? Infinity : at - Date.now();
}

/** Shorthand: a fresh bulkhead's interceptor for `dependency`, or none when `settings.maxInFlight` is 0. */
export function bulkheadInterceptor(dependency: string, settings: BulkheadSettings): Interceptor | undefined {
  return settings.maxInFlight > 0 ? new Bulkhead(dependency, settings).interceptor : undefined;
}
