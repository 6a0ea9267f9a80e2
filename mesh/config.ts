import { z } from "zod";
import { CATALOGUE, type ServiceName } from "./catalogue.js";
import { resilienceEnv } from "./resilience/settings.js";

/**
 * Configuration comes from environment variables, parsed once at start-up. A bad value must stop the
 * process with a message naming the variable, so parsing failures are collected into one ConfigError.
 */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

/** A TCP port; 0 asks the OS for a free one (tests). */
export const port = z.coerce.number().int().min(0).max(65535);
const positiveMs = z.coerce.number().int().positive();

/**
 * `<name>=host:port,…` parsed into a map; names must match `name` (`expected` describes them in errors).
 * With `replicas`, one name may list several addresses joined by "|" (`query=127.0.0.1:1|127.0.0.1:2`).
 */
export function addressMap(name: RegExp, expected: string, { replicas = false } = {}) {
  return z.string().transform((raw, ctx) => {
    const out: Record<string, string> = {};
    for (const part of raw.split(",").map((p) => p.trim()).filter(Boolean)) {
      const eq = part.indexOf("=");
      const key = part.slice(0, eq);
      const address = part.slice(eq + 1);
      const addresses = replicas ? address.split("|") : [address];
      if (eq < 0 || !name.test(key) || !addresses.every((a) => /^[^|]+:\d{1,5}$/.test(a))) {
        const form = replicas ? "host:port (several joined by |)" : "host:port";
        ctx.addIssue({ code: "custom", message: `expected ${expected}=${form}, got ${JSON.stringify(part)}` });
        return z.NEVER;
      }
      out[key] = address;
    }
    return out;
  });
}

/**
 * `name=host:port,name=host:port|host:port` — the static address list the launcher hands to every
 * service; a service run as several replicas lists each one's address, joined by "|".
 */
export const endpointList = addressMap(/^[a-z][a-z0-9-]*$/, "name", { replicas: true });

/** Variables every service reads; service-specific ones are added with `extend`. */
export function baseEnvSchema(service: ServiceName) {
  const entry = CATALOGUE[service];
  return z.object({
    GRPC_HOST: z.string().min(1).default("0.0.0.0"),
    GRPC_PORT: port.default(entry.grpcPort),
    ADMIN_HOST: z.string().min(1).default("0.0.0.0"),
    ADMIN_PORT: port.default(entry.adminPort),
    LOG_LEVEL: z.enum(["error", "warn", "info", "debug"]).default("info"),
    /** How services are found: static addresses (RAG_ENDPOINTS), Consul (CONSUL_HTTP_ADDR…) or Kubernetes DNS. */
    RAG_DISCOVERY: z.enum(["static", "consul", "dns"]).default("static"),
    RAG_ENDPOINTS: endpointList.default({}),
    /** Applied to inbound calls that carry no deadline, and to outbound calls made outside any call. */
    DEFAULT_DEADLINE_MS: positiveMs.default(30_000),
    /** Time between turning NOT_SERVING and refusing new calls, so load balancers see the change first. */
    SHUTDOWN_DELAY_MS: z.coerce.number().int().min(0).default(0),
    /** Upper bound on draining in-flight calls before they are cancelled. */
    SHUTDOWN_GRACE_MS: positiveMs.default(10_000),
    /**
     * Connection ageing (grpc.max_connection_age_ms): after this a server asks clients to reconnect (GOAWAY),
     * so new replicas behind a Kubernetes Service get their share. Small values in tests exercise resumption.
     */
    GRPC_MAX_CONNECTION_AGE_MS: positiveMs.default(300_000),
    /**
     * How long calls open on an aged connection may still run before it is closed
     * (grpc.max_connection_age_grace_ms). It must be at least the longest deadline a stream that cannot
     * resume may have, or ageing cuts it: AskStream and GenerateStream reached through the gateway last at
     * most GATEWAY_STREAM_TIMEOUT_MS (10 min by default). WatchJob resumes (after_sequence), so it needs none.
     */
    GRPC_MAX_CONNECTION_AGE_GRACE_MS: positiveMs.default(15 * 60_000),
    /** Balancing, retries, outlier ejection, breakers, bulkheads and load shedding (mesh/resilience/settings.ts). */
    ...resilienceEnv,
    /** Shared by every service of the deployment to sign and check service tokens (mesh/auth/service-token.ts). */
    RAG_INTERNAL_SECRET: z
      .string({ error: "required: a secret of at least 32 characters, the same for every service (e.g. `openssl rand -hex 32`; `make run` makes one)" })
      .min(32, "must be at least 32 characters (e.g. `openssl rand -hex 32`), the same for every service"),
    /** Exit when stdin closes: the local launcher uses this so no service outlives it. */
    RAG_EXIT_WITH_STDIN: z.stringbool().default(false),
  });
}

export type BaseEnv = z.infer<ReturnType<typeof baseEnvSchema>>;

/** Parses `env` with `schema`; throws ConfigError naming every bad variable. */
export function parseEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  // Empty strings mean "unset" for every variable: `FOO= make run` should behave like no FOO at all.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const result = schema.safeParse(cleaned);
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => {
      const name = issue.path.join(".") || "(environment)";
      const got = typeof issue.path[0] === "string" ? cleaned[issue.path[0]] : undefined;
      return `${name}: ${issue.message}${got === undefined ? "" : ` (got ${JSON.stringify(got)})`}`;
    }),
  );
}
