import { Server, ServerCredentials } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation } from "grpc-health-check";
import { startAdmin } from "./admin.js";
import type { TokenVerifier } from "./auth/verifier.js";
import { LoadShedder } from "./resilience/shedding.js";
import { bindService, type AnyServiceDefinition, type BindingContext, type CallTracker, type ServiceBinding, type ServiceImpl } from "./handlers.js";
import { errorFields, log } from "./logger.js";
import { PROTO_ROOT } from "./paths.js";
import { RequestSchemas } from "./text-rule.js";


export interface ServerOptions {
  grpcHost: string;
  grpcPort: number;
  adminHost: string;
  adminPort: number;
  defaultDeadlineMs: number;
  shutdownDelayMs: number;
  shutdownGraceMs: number;
  /** Connection ageing; see GRPC_MAX_CONNECTION_AGE_MS in config.ts. */
  maxConnectionAgeMs?: number;
  /** At least the longest deadline of a stream that cannot resume; see GRPC_MAX_CONNECTION_AGE_GRACE_MS. */
  maxConnectionAgeGraceMs?: number;
  /** Checks inbound tokens: the runtime's (mesh/runtime.ts). */
  verifier: TokenVerifier;
  /** Load shedding: beyond `maxInFlight` calls in flight (0: no bound), RESOURCE_EXHAUSTED at once. */
  shedding?: { service: string; maxInFlight: number };
  /** Proto files (relative to proto/) that reflection describes. */
  protoFiles: string[];
  /**
   * Readiness beyond "not draining": the service's own stores only (a database ping), never the other
   * services it calls. /readyz runs it per request; gRPC health follows it (see watchReadiness).
   */
  ready?: () => Promise<void>;
  /** How often gRPC health re-runs `ready` (default 5 s). */
  readinessIntervalMs?: number;
}

export interface RunningServer {
  grpcPort: number;
  adminPort: number;
  health: HealthImplementation;
  /** Health NOT_SERVING, stop taking calls, let in-flight calls finish (bounded), close the ports. */
  shutdown(): Promise<void>;
}

/** A service definition with its implementation, to be served by `startServer`. */
export interface ServiceRegistration {
  bind(context: BindingContext): ServiceBinding;
}

export function serve<D extends AnyServiceDefinition>(definition: D, impl: ServiceImpl<D>): ServiceRegistration {
  return { bind: (context) => bindService(definition, impl, context) };
}

export async function startServer(services: ServiceRegistration[], opts: ServerOptions): Promise<RunningServer> {
  let inFlight = 0;
  let draining = false;
  const idle: (() => void)[] = [];
  const tracker: CallTracker = {
    defaultDeadlineMs: opts.defaultDeadlineMs,
    enter: () => void inFlight++,
    leave: () => {
      inFlight--;
      if (inFlight === 0) idle.splice(0).forEach((fn) => fn());
    },
  };

  const server = new Server({
    // Keepalive as the grpc docs recommend for long-lived internal channels; max_connection_age makes
    // clients reconnect now and then, so new replicas behind a Kubernetes Service get their share.
    "grpc.keepalive_time_ms": 60_000,
    "grpc.keepalive_timeout_ms": 20_000,
    "grpc.max_connection_age_ms": opts.maxConnectionAgeMs ?? 300_000,
    // An aged connection is closed only after this grace, cutting the calls still open on it: it must
    // outlast the longest deadline of a stream that cannot resume (AskStream, GenerateStream: at most the
    // gateway's 10 min stream timeout), or ageing would cut answers mid-stream. WatchJob resumes by itself.
    "grpc.max_connection_age_grace_ms": opts.maxConnectionAgeGraceMs ?? 15 * 60_000,
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
  });
  const reflected = loadSync(opts.protoFiles, { includeDirs: [PROTO_ROOT], keepCase: true });
  const schemas = new RequestSchemas(reflected);
  const shedder = opts.shedding && opts.shedding.maxInFlight > 0 ? new LoadShedder(opts.shedding.service, opts.shedding.maxInFlight) : undefined;
  const bindings = services.map((s) => s.bind({ tracker: () => tracker, schemas, verifier: opts.verifier, shedder }));
  const health = new HealthImplementation({ "": "SERVING", ...Object.fromEntries(bindings.map((b) => [b.name, "SERVING"])) });
  for (const b of bindings) server.addService(b.definition, b.handlers);
  health.addToServer(server);
  new ReflectionService(reflected).addToServer(server);

  const grpcPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${opts.grpcHost}:${opts.grpcPort}`, ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
  const admin = await startAdmin({
    host: opts.adminHost,
    port: opts.adminPort,
    draining: () => draining,
    ready: opts.ready ?? (async () => undefined),
  }).catch((err) => {
    server.forceShutdown();
    throw err;
  });

  const readiness = opts.ready ? watchReadiness(opts.ready, (status) => setHealth(status), opts.readinessIntervalMs ?? 5_000) : undefined;
  function setHealth(status: "SERVING" | "NOT_SERVING"): void {
    if (draining) return;
    health.setStatus("", status);
    for (const b of bindings) health.setStatus(b.name, status);
  }

  let shutdownPromise: Promise<void> | undefined;
  const shutdown = () =>
    (shutdownPromise ??= (async () => {
      readiness?.stop();
      draining = true;
      health.setStatus("", "NOT_SERVING");
      for (const b of bindings) health.setStatus(b.name, "NOT_SERVING");
      log.info("shutting down: health NOT_SERVING", { in_flight: inFlight });
      if (opts.shutdownDelayMs > 0) await new Promise((r) => setTimeout(r, opts.shutdownDelayMs));
      // Wait for our own count of in-flight calls rather than trusting tryShutdown alone: it can hang
      // on open streams (grpc-node#1458) and the bound must hold whatever the clients do.
      const drained = inFlight === 0 ? Promise.resolve(true) : new Promise<boolean>((resolve) => idle.push(() => resolve(true)));
      const timedOut = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), opts.shutdownGraceMs).unref());
      const closed = new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      const clean = await Promise.race([drained, timedOut]);
      if (!clean) log.warn("drain bound reached: cancelling remaining calls", { in_flight: inFlight, grace_ms: opts.shutdownGraceMs });
      await Promise.race([closed, new Promise((r) => setTimeout(r, clean ? 1_000 : 0).unref())]);
      server.forceShutdown();
      await admin.close().catch((err) => log.warn("admin close failed", errorFields(err)));
    })());

  return { grpcPort, adminPort: admin.port, health, shutdown };
}

/**
 * grpc.health.v1 tells a load balancer, the mesh, the launcher and the gateway's /readyz whether this
 * process can do its work. It turns NOT_SERVING when `ready` fails (the service's own store is gone: its
 * database, its vector store) and SERVING again when it passes; it never looks at other services, so a
 * dependency that is down never makes its callers look down too (they answer UNAVAILABLE naming it, and
 * recover on their own when it is back). Checked every `intervalMs`, one check at a time; a check that
 * takes longer than `timeoutMs` counts as failed (a database that hangs), the bound generous enough that a
 * busy pool's short wait for a connection does not flap health under load.
 */
export function watchReadiness(
  ready: () => Promise<void>,
  report: (status: "SERVING" | "NOT_SERVING") => void,
  intervalMs: number,
  timeoutMs = Math.max(intervalMs, 10_000),
): { stop(): void; check(): Promise<void> } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let serving = true; // startServer has just run the service's start-up against its stores
  const check = async () => {
    let failure: Error | undefined;
    let bound: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        ready(),
        new Promise<never>((_, reject) => {
          bound = setTimeout(() => reject(new Error(`readiness check took longer than ${timeoutMs} ms`)), timeoutMs).unref();
        }),
      ]);
    } catch (err) {
      failure = err instanceof Error ? err : new Error(String(err));
    } finally {
      clearTimeout(bound);
    }
    if (stopped) return;
    if (failure && serving) {
      serving = false;
      log.error("own store unavailable: health NOT_SERVING until it is back", errorFields(failure));
      report("NOT_SERVING");
    } else if (!failure && !serving) {
      serving = true;
      log.info("own store available again: health SERVING");
      report("SERVING");
    }
  };
  const loop = () => {
    timer = setTimeout(() => {
      void check().finally(() => {
        if (!stopped) loop();
      });
    }, intervalMs);
    timer.unref();
  };
  loop();
  return {
    check,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
