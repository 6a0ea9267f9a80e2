import { IdentityServiceClient } from "#gen/rag/v1/identity.js";
import type { ServiceName } from "#mesh/catalogue.js";
import type { ConnectOptions } from "#mesh/client.js";
import { z } from "zod";
import { ConfigError, endpointList, parseEnv } from "#mesh/config.js";
import { discoveryEnvShape, selectDiscovery } from "#mesh/discovery/select.js";
import { resilienceEnv, resilienceSettingsFrom } from "#mesh/resilience/settings.js";
import { createRuntime, type Runtime } from "#mesh/runtime.js";
import { UsageError } from "./output.js";

/** What every command needs: who we are and where the services are. */
export interface CliContext {
  tenant: string;
  json: boolean;
  /** Finds the services (RAG_DISCOVERY: RAG_ENDPOINTS, Consul or DNS) and, with RAG_INTERNAL_SECRET, mints service tokens. */
  runtime: Runtime;
  metadata: Record<string, string>;
  /** How calls authenticate (see `authenticate`); commands pass it to `connect`. */
  auth: ConnectOptions["auth"];
  target(name: ServiceName): string;
}

/**
 * The CLI acts as a user when RAG_API_KEY holds an API key: it exchanges the key for an access token
 * (IssueToken) and presents that, so the services apply the key's role and tenant. On a machine of the
 * deployment that has RAG_INTERNAL_SECRET, it may instead act as a service for --tenant (operators).
 */
export async function authenticate(ctx: CliContext): Promise<CliContext> {
  const apiKey = process.env.RAG_API_KEY?.trim();
  if (apiKey) {
    const identity = ctx.runtime.connect(IdentityServiceClient, "identity", { auth: "none" });
    try {
      const { accessToken } = await identity.issueToken({ apiKey, ttlSeconds: 3600 });
      return { ...ctx, auth: { bearer: accessToken } };
    } finally {
      identity.close();
    }
  }
  if ((process.env.RAG_INTERNAL_SECRET ?? "").length >= 32) return { ...ctx, auth: "service" };
  throw new UsageError("no credentials: set RAG_API_KEY to an API key (the first `make run` prints the bootstrap admin key)");
}

const cliEnvSchema = z.object({ RAG_ENDPOINTS: endpointList.default({}), ...discoveryEnvShape, ...resilienceEnv });

export function cliContext(opts: { tenant?: string; json?: boolean }): CliContext {
  const tenant = opts.tenant ?? process.env.RAG_TENANT ?? "default";
  // The services' own variables: RAG_DISCOVERY (RAG_ENDPOINTS, CONSUL_HTTP_ADDR…, RAG_DNS_…) and GRPC_*.
  let env: z.infer<typeof cliEnvSchema>;
  try {
    env = parseEnv(cliEnvSchema);
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.problems.join("; "));
    throw err;
  }
  const { discovery } = selectDiscovery(env);
  const runtime = createRuntime({ name: "client", discovery, resilience: resilienceSettingsFrom(env), internalSecret: process.env.RAG_INTERNAL_SECRET });
  return {
    tenant,
    json: opts.json ?? false,
    runtime,
    metadata: { "x-tenant-id": tenant },
    auth: "none",
    target: (name) => discovery.target(name),
  };
}
