import type { KeySource } from "./auth/verifier.js";
import { CATALOGUE, type ServiceName } from "./catalogue.js";
import { ConfigError, baseEnvSchema, parseEnv, type BaseEnv } from "./config.js";
import { z } from "zod";
import { StaticDiscovery, type Discovery } from "./discovery.js";
import { discoveryEnvShape, selectDiscovery, type SelectedDiscovery } from "./discovery/select.js";
import { resilienceSettingsFrom } from "./resilience/settings.js";
import { configureLogger, errorFields, log } from "./logger.js";
import { createRuntime, type Runtime } from "./runtime.js";
import { startServer, type ServiceRegistration } from "./server.js";
import { shutdownTelemetry } from "./telemetry/index.js";

/** What a service's main.ts hands to the mesh: its implementations and the lifecycle of its stores. */
export interface ServiceParts {
  services: ServiceRegistration[];
  /** Readiness of the service's dependencies (e.g. a database ping) for /readyz. */
  ready?: () => Promise<void>;
  /** Closes stores after the last call has drained. */
  close?: () => Promise<void>;
}

export interface RunServiceOptions {
  /** Where the verifier gets identity's public keys; identity reads its own store instead of calling itself. */
  keys?: KeySource;
}

/** The runtime of service `name`, from its parsed configuration and the discovery chosen for it. */
export function serviceRuntime(name: ServiceName, env: BaseEnv, keys?: KeySource, discovery: Discovery = new StaticDiscovery(env.RAG_ENDPOINTS)): Runtime {
  return createRuntime({
    name,
    discovery,
    defaultDeadlineMs: env.DEFAULT_DEADLINE_MS,
    resilience: resilienceSettingsFrom(env),
    internalSecret: env.RAG_INTERNAL_SECRET,
    keys,
  });
}

/** Exit code for a configuration error (sysexits EX_CONFIG), so supervisors can tell it from a crash. */
const EX_CONFIG = 78;

/**
 * Runs one service process: config, logging, discovery, the gRPC and admin servers, and graceful shutdown
 * on SIGTERM/SIGINT (or when stdin closes under the local launcher). A service's main.ts only wires.
 */
export async function runService(name: ServiceName, build: (env: BaseEnv, runtime: Runtime) => Promise<ServiceParts>, opts: RunServiceOptions = {}): Promise<void> {
  let env: BaseEnv;
  let runtime: Runtime;
  let parts: ServiceParts;
  let discovery: SelectedDiscovery;
  try {
    env = parseEnv(baseEnvSchema(name));
    configureLogger(name, env.LOG_LEVEL);
    // RAG_DISCOVERY and its mode's variables (CONSUL_HTTP_ADDR…, RAG_DNS_…), parsed once, here.
    discovery = selectDiscovery({ ...parseEnv(z.object(discoveryEnvShape)), RAG_ENDPOINTS: env.RAG_ENDPOINTS });
    runtime = serviceRuntime(name, env, opts.keys, discovery.discovery);
    parts = await build(env, runtime);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${name}: ${err.message}\n`);
      process.exit(EX_CONFIG);
    }
    log.error("start-up failed", errorFields(err));
    process.exit(1);
  }

  const server = await startServer(parts.services, {
    grpcHost: env.GRPC_HOST,
    grpcPort: env.GRPC_PORT,
    adminHost: env.ADMIN_HOST,
    adminPort: env.ADMIN_PORT,
    defaultDeadlineMs: env.DEFAULT_DEADLINE_MS,
    verifier: runtime.verifier,
    shutdownDelayMs: env.SHUTDOWN_DELAY_MS,
    shutdownGraceMs: env.SHUTDOWN_GRACE_MS,
    maxConnectionAgeMs: env.GRPC_MAX_CONNECTION_AGE_MS,
    maxConnectionAgeGraceMs: env.GRPC_MAX_CONNECTION_AGE_GRACE_MS,
    protoFiles: [CATALOGUE[name].protoFile],
    ready: parts.ready,
    shedding: { service: name, maxInFlight: runtime.resilience.serverMaxInFlight },
  }).catch(async (err) => {
    log.error("could not start the server", errorFields(err));
    await parts.close?.().catch(() => undefined);
    process.exit(1);
  });
  log.info("serving", { grpc: `${env.GRPC_HOST}:${server.grpcPort}`, admin: `${env.ADMIN_HOST}:${server.adminPort}` });

  // With RAG_DISCOVERY=consul the replica announces itself once it serves; a failed registration stops it,
  // since no client could find it (the agent's error says why).
  const registration = discovery.registration({ service: name, grpcPort: server.grpcPort, adminPort: server.adminPort, bindHost: env.GRPC_HOST });
  if (registration) {
    try {
      await registration.register();
      log.info("registered with consul", { id: registration.id });
    } catch (err) {
      log.error("could not register with consul", errorFields(err));
      await server.shutdown();
      await parts.close?.().catch(() => undefined);
      process.exit(1);
    }
  }

  let stopping = false;
  const stop = async (reason: string) => {
    if (stopping) return;
    stopping = true;
    log.info("stopping", { reason });
    const hardStop = setTimeout(() => {
      log.error("shutdown took too long, exiting");
      process.exit(1);
    }, env.SHUTDOWN_DELAY_MS + env.SHUTDOWN_GRACE_MS + 5_000).unref();
    // Leave discovery first, so clients stop picking this replica while it still answers what they sent.
    await registration?.deregister().catch((err) => log.warn("consul deregistration failed; its check will fail instead", errorFields(err)));
    await server.shutdown();
    await parts.close?.().catch((err) => log.warn("closing stores failed", errorFields(err)));
    discovery.close();
    await shutdownTelemetry();
    clearTimeout(hardStop);
    log.info("stopped");
    process.exit(0);
  };
  stopOn(stop, env.RAG_EXIT_WITH_STDIN);
}

/** Calls `stop` on SIGTERM/SIGINT and, under the local launcher, when stdin closes. */
export function stopOn(stop: (reason: string) => Promise<void>, exitWithStdin: boolean): void {
  process.once("SIGTERM", () => void stop("SIGTERM"));
  process.once("SIGINT", () => void stop("SIGINT"));
  if (exitWithStdin) {
    // The launcher holds our stdin: when it goes away (even killed with SIGKILL), so do we.
    process.stdin.on("end", () => void stop("launcher went away (stdin closed)"));
    process.stdin.on("error", () => void stop("launcher went away (stdin error)"));
    process.stdin.resume();
  }
}
