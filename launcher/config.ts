/**
 * The launcher's settings, read from the environment once and validated before anything starts:
 * a bad value stops us with a message naming the variable.
 */
import path from "node:path";
import { isServiceName, SERVICE_NAMES, type ServiceName } from "#mesh/catalogue.js";
import { MAX_REPLICAS, portBlockSize, type ReplicaCounts } from "./endpoints.js";
import { DEFAULT_RESTART_POLICY } from "./restart-policy.js";

export interface LauncherConfig {
  /** Repository root: services are started as services/<name>/main.ts from here. */
  rootDir: string;
  /** RAG_DATA_DIR: everything the stack keeps on disk; Postgres lives in <dataDir>/postgres. */
  dataDir: string;
  /** RAG_PG_PORT: the embedded Postgres port (unused with DATABASE_URL). */
  pgPort: number;
  /**
   * RAG_GRPC_PORT_BASE / RAG_ADMIN_PORT_BASE: service i (catalogue order) gets base + i, its replica k
   * base + i + (k - 1) x 8 (endpoints.ts).
   */
  grpcPortBase?: number;
  adminPortBase?: number;
  /** DATABASE_URL: an external Postgres to use instead of starting one. */
  databaseUrl?: string;
  /** RAG_SERVICES: the services to start, in catalogue order. */
  services: ServiceName[];
  /** RAG_REPLICAS ("query=2,retrieval=2"): processes per service; a service not named runs once. */
  replicas: ReplicaCounts;
  /** RAG_REDIS_PORT: where the launcher's redis-server for query replicas listens (default 6390). */
  redisPort?: number;
  /** RAG_START_TIMEOUT_MS: how long all services together may take to report SERVING. */
  startTimeoutMs: number;
  /** RAG_GATEWAY_PORT: where the REST gateway listens (default 8080); "off" starts none. */
  gatewayPort: number | false;
  /**
   * Restarts of a process that ends while the stack is up. RAG_RESTART=off turns them off (the old
   * behaviour: report and carry on without it); RAG_RESTART_DELAY_MS / RAG_RESTART_MAX_DELAY_MS set the
   * first and the largest backoff delay (default 500 ms doubling to 30 s).
   */
  restart: { initialDelayMs?: number; maxDelayMs?: number } | false;
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = "ConfigError";
  }
}

export const DEFAULT_PG_PORT = 54329;
export const DEFAULT_START_TIMEOUT_MS = 90_000;
export const DEFAULT_GATEWAY_PORT = 8080;

export function loadConfig(env: NodeJS.ProcessEnv, rootDir: string): LauncherConfig {
  const services = parseServices(env);
  const replicas = parseReplicas(env, services);
  const grpcPortBase = optionalPortBase(env, "RAG_GRPC_PORT_BASE", portBlockSize(replicas));
  const adminPortBase = optionalPortBase(env, "RAG_ADMIN_PORT_BASE", portBlockSize(replicas));
  return {
    rootDir,
    dataDir: path.resolve(value(env, "RAG_DATA_DIR") ?? path.join(rootDir, ".data")),
    pgPort: integer(env, "RAG_PG_PORT", 1, 65535) ?? DEFAULT_PG_PORT,
    ...(grpcPortBase !== undefined ? { grpcPortBase } : {}),
    ...(adminPortBase !== undefined ? { adminPortBase } : {}),
    ...(databaseUrl(env) ? { databaseUrl: databaseUrl(env) } : {}),
    services,
    replicas,
    ...(integer(env, "RAG_REDIS_PORT", 1, 65535) !== undefined ? { redisPort: integer(env, "RAG_REDIS_PORT", 1, 65535) } : {}),
    startTimeoutMs: integer(env, "RAG_START_TIMEOUT_MS", 1000, 3_600_000) ?? DEFAULT_START_TIMEOUT_MS,
    gatewayPort: value(env, "RAG_GATEWAY_PORT") === "off" ? false : (integer(env, "RAG_GATEWAY_PORT", 1, 65535) ?? DEFAULT_GATEWAY_PORT),
    restart: restartSettings(env),
  };
}

function restartSettings(env: NodeJS.ProcessEnv): LauncherConfig["restart"] {
  const mode = value(env, "RAG_RESTART");
  if (mode !== undefined && mode !== "on" && mode !== "off") throw new ConfigError("RAG_RESTART", `expected "on" or "off", got "${mode}"`);
  if (mode === "off") return false;
  const initialDelayMs = integer(env, "RAG_RESTART_DELAY_MS", 0, 3_600_000);
  const maxDelayMs = integer(env, "RAG_RESTART_MAX_DELAY_MS", 0, 3_600_000);
  const initial = initialDelayMs ?? DEFAULT_RESTART_POLICY.initialDelayMs;
  const max = maxDelayMs ?? Math.max(DEFAULT_RESTART_POLICY.maxDelayMs, initial);
  if (max < initial) throw new ConfigError("RAG_RESTART_MAX_DELAY_MS", `must be at least RAG_RESTART_DELAY_MS (${initial})`);
  return { initialDelayMs: initial, maxDelayMs: max };
}

// An empty variable counts as unset: `RAG_PG_PORT= make run` should mean "the default".
function value(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name]?.trim();
  return raw ? raw : undefined;
}

function integer(env: NodeJS.ProcessEnv, name: string, min: number, max: number): number | undefined {
  const raw = value(env, name);
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ConfigError(name, `expected a whole number from ${min} to ${max}, got "${raw}"`);
  }
  return Number(raw);
}

function optionalPortBase(env: NodeJS.ProcessEnv, name: string, count: number): number | undefined {
  // Every service (and replica) gets base + an offset, so the whole block must fit below 65536.
  return integer(env, name, 1, 65536 - count);
}

function databaseUrl(env: NodeJS.ProcessEnv): string | undefined {
  const raw = value(env, "DATABASE_URL");
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError("DATABASE_URL", "not a URL; expected postgres://user:password@host:port/database");
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    throw new ConfigError("DATABASE_URL", `expected a postgres:// or postgresql:// URL, got "${url.protocol}//..."`);
  }
  if (!url.hostname) throw new ConfigError("DATABASE_URL", "the URL names no host");
  return raw;
}

function parseServices(env: NodeJS.ProcessEnv): ServiceName[] {
  const raw = value(env, "RAG_SERVICES");
  if (raw === undefined) return [...SERVICE_NAMES];
  const wanted = raw.split(",").map((s) => s.trim()).filter((s) => s !== "");
  const unknown = wanted.filter((s) => !isServiceName(s));
  if (unknown.length > 0) {
    throw new ConfigError("RAG_SERVICES", `unknown service ${unknown.map((s) => `"${s}"`).join(", ")}; known: ${SERVICE_NAMES.join(", ")}`);
  }
  if (wanted.length === 0) throw new ConfigError("RAG_SERVICES", "lists no service");
  // Catalogue order, duplicates dropped: the order things start and print in never depends on typing.
  return SERVICE_NAMES.filter((name) => wanted.includes(name));
}

/**
 * RAG_REPLICAS: "name=count" pairs, comma-separated, count 1 to 8. Only syntax and names are checked
 * here; whether a service's store can be shared by several processes is the stack's to check at start
 * (replica-stores.ts), because it depends on what is installed.
 */
export function parseReplicas(env: NodeJS.ProcessEnv, services: readonly ServiceName[] = SERVICE_NAMES): ReplicaCounts {
  const raw = value(env, "RAG_REPLICAS");
  if (raw === undefined) return {};
  const counts: ReplicaCounts = {};
  for (const part of raw.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
    const match = /^([^=\s]+)\s*=\s*(\S+)$/.exec(part);
    if (!match) throw new ConfigError("RAG_REPLICAS", `"${part}" is not name=count (e.g. RAG_REPLICAS=query=2,retrieval=2)`);
    const [, name, count] = match as unknown as [string, string, string];
    if (!isServiceName(name)) throw new ConfigError("RAG_REPLICAS", `unknown service "${name}" in "${part}"; known: ${SERVICE_NAMES.join(", ")}`);
    if (!/^\d+$/.test(count) || Number(count) < 1 || Number(count) > MAX_REPLICAS) {
      throw new ConfigError("RAG_REPLICAS", `"${part}": the count must be a whole number from 1 to ${MAX_REPLICAS}`);
    }
    if (counts[name] !== undefined) throw new ConfigError("RAG_REPLICAS", `"${name}" is named twice`);
    if (!services.includes(name)) throw new ConfigError("RAG_REPLICAS", `"${part}": ${name} is not started (RAG_SERVICES lists ${services.join(", ")})`);
    counts[name] = Number(count);
  }
  return counts;
}
