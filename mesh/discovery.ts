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
    return staticTarget(this.endpoints[name] ?? `127.0.0.1:${CATALOGUE[name].grpcPort}`);
  }
}

const IPV4_ADDRESS = /^\d{1,3}(\.\d{1,3}){3}:\d{1,5}$/;
const IPV6_ADDRESS = /^\[[0-9a-fA-F:.]+\]:\d{1,5}$/;

/**
 * The grpc target for an RAG_ENDPOINTS value: one `host:port` as it is (grpc-js resolves a name by DNS);
 * several replicas, "|"-joined, as grpc-js's static address list (`ipv4:a:1,b:2`), over which the channel's
 * load-balancing policy spreads calls. grpc-js has no list form for host names, so replicas are IP literals.
 */
export function staticTarget(value: string): string {
  const addresses = value.split("|");
  if (addresses.length === 1) return value;
  if (addresses.every((a) => IPV4_ADDRESS.test(a))) return `ipv4:${addresses.join(",")}`;
  if (addresses.every((a) => IPV6_ADDRESS.test(a))) return `ipv6:${addresses.join(",")}`;
  throw new Error(`replica addresses must all be IPv4 or all IPv6 literals (got ${JSON.stringify(value)}); for host names use RAG_DISCOVERY=dns or consul`);
}
