import { Server, ServerCredentials } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation } from "grpc-health-check";
import { startAdmin } from "./admin.js";
import { bindService, type AnyServiceDefinition, type CallTracker, type ServiceBinding, type ServiceImpl } from "./handlers.js";
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
  /** Proto files (relative to proto/) that reflection describes. */
  protoFiles: string[];
  /** Readiness beyond "not draining", e.g. a database ping. */
  ready?: () => Promise<void>;
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
  bind(tracker: () => CallTracker, schemas: RequestSchemas): ServiceBinding;
}

export function serve<D extends AnyServiceDefinition>(definition: D, impl: ServiceImpl<D>): ServiceRegistration {
  return { bind: (tracker, schemas) => bindService(definition, impl, tracker, schemas) };
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
    "grpc.max_connection_age_ms": 300_000,
    "grpc.max_connection_age_grace_ms": 30_000,
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
  });
  const reflected = loadSync(opts.protoFiles, { includeDirs: [PROTO_ROOT], keepCase: true });
  const schemas = new RequestSchemas(reflected);
  const bindings = services.map((s) => s.bind(() => tracker, schemas));
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

  let shutdownPromise: Promise<void> | undefined;
  const shutdown = () =>
    (shutdownPromise ??= (async () => {
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
