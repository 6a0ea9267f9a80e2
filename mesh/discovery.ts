import { CATALOGUE, type ServiceName } from "./catalogue.js";

/**
 * Where a service can be reached, as a grpc target string. Static addresses come from the launcher (or
 * RAG_ENDPOINTS); Consul and Kubernetes DNS implement the same interface, so no caller changes with them.
 */
export interface Discovery {
  target(name: ServiceName): string;
}

export class StaticDiscovery implements Discovery {
  constructor(private readonly endpoints: Readonly<Record<string, string>> = {}) {}

  target(name: ServiceName): string {
    // Without an entry, fall back to the catalogue port on loopback: what `make run` uses.
    return this.endpoints[name] ?? `127.0.0.1:${CATALOGUE[name].grpcPort}`;
  }
}

let configured: Discovery | undefined;

/** The process-wide discovery, set once at start-up by the service runner or the CLI. */
export function setDiscovery(discovery: Discovery): void {
  configured = discovery;
}

export function discovery(): Discovery {
  return (configured ??= new StaticDiscovery());
}
