import type { JWK } from "jose";
import { IdentityServiceClient } from "#gen/rag/v1/identity.js";
import type { RevokedKeys } from "./auth/revocations.js";
import { ServiceTokenMinter } from "./auth/service-token.js";
import { TokenVerifier, type KeySource } from "./auth/verifier.js";
import type { ServiceName } from "./catalogue.js";
import { createClient, type ClientRuntime, type ConnectOptions, type GeneratedClient, type PromiseClient } from "./client.js";
import { StaticDiscovery, type Discovery } from "./discovery.js";
import type { AnyServiceDefinition } from "./handlers.js";
import { DEFAULT_RESILIENCE, type ResilienceSettings } from "./resilience/settings.js";

/**
 * Everything a process of the mesh shares between its calls: who it is, how it finds and calls other
 * services, and how it checks who calls it. `runService` builds one from the service's configuration and
 * hands it to the service's `build`; the gateway, the CLI, benches and tests build their own.
 */
export interface Runtime extends ClientRuntime {
  /** The process's name, minted into its service tokens (e.g. "query"). */
  readonly name: string;
  /** Mints the service tokens of outbound calls. */
  readonly tokens: ServiceTokenMinter;
  /** Checks the tokens of inbound calls. */
  readonly verifier: TokenVerifier;
  /** A client of service `name`, found through the runtime's discovery. */
  connect<D extends AnyServiceDefinition>(ctor: GeneratedClient<D>, name: ServiceName, opts?: ConnectOptions): PromiseClient<D>;
}

export interface RuntimeOptions {
  name: string;
  /** Default: static discovery with the catalogue's loopback ports (what `make run` uses). */
  discovery?: Discovery;
  /** Default 30 s. */
  defaultDeadlineMs?: number;
  /** Balancing, retries, outlier ejection, breaker and bulkhead of every client (default: every setting's default). */
  resilience?: ResilienceSettings;
  /** RAG_INTERNAL_SECRET: without it no service token is minted or accepted. */
  internalSecret: string | undefined;
  /** identity's public keys; default: identity's GetJwks, through this runtime. identity passes its own store. */
  keys?: KeySource;
  /** Revoked API keys the verifier refuses (default: the process's list). */
  revoked?: RevokedKeys;
}

export function createRuntime(opts: RuntimeOptions): Runtime {
  const runtime: Runtime = {
    name: opts.name,
    discovery: opts.discovery ?? new StaticDiscovery(),
    defaultDeadlineMs: opts.defaultDeadlineMs ?? 30_000,
    resilience: opts.resilience ?? DEFAULT_RESILIENCE,
    tokens: new ServiceTokenMinter(opts.name, opts.internalSecret),
    verifier: new TokenVerifier({ keys: opts.keys ?? (() => identityKeys(runtime)), internalSecret: opts.internalSecret, revoked: opts.revoked }),
    connect: (ctor, name, connectOpts) => createClient(runtime, ctor, name, connectOpts),
  };
  return runtime;
}

/** identity's public keys over gRPC (GetJwks is public, so no token is needed to ask). */
async function identityKeys(runtime: Runtime): Promise<JWK[]> {
  const identity = runtime.connect(IdentityServiceClient, "identity", { auth: "none", deadlineMs: 5_000 });
  try {
    return (await identity.getJwks({})).keys.map((k) => ({ ...k }) as JWK);
  } finally {
    identity.close();
  }
}
