import { z } from "zod";
import { StaticDiscovery, type Discovery } from "#mesh/discovery.js";
import { ConsulRegistration, type ReplicaRegistration } from "./consul-registration.js";
import { ConsulDiscovery } from "./consul-resolver.js";
import { consulEnvShape, consulSettings, type ConsulSettings } from "./consul-settings.js";
import { dnsEnvShape, dnsSettings, DnsDiscovery } from "./dns.js";

/**
 * The one place the runtime turns configuration into discovery: `RAG_DISCOVERY=static|consul|dns` (static
 * stays the default) and each mode's variables. Merge the shape into the service's schema
 * (`baseEnvSchema(name).extend(discoveryEnvShape)`, which widens RAG_DISCOVERY), then call
 * `selectDiscovery(env)` once at start-up.
 */
export const discoveryEnvShape = {
  RAG_DISCOVERY: z.enum(["static", "consul", "dns"]).default("static"),
  ...consulEnvShape,
  ...dnsEnvShape,
};

export type DiscoveryEnv = z.infer<z.ZodObject<typeof discoveryEnvShape>> & { RAG_ENDPOINTS?: Record<string, string> };

export interface SelectedDiscovery {
  kind: "static" | "consul" | "dns";
  discovery: Discovery;
  /** Set with RAG_DISCOVERY=consul: what a replica needs to register itself. */
  consul?: ConsulSettings;
  /** Builds this replica's registration (consul only; undefined otherwise). Call register() once serving. */
  registration(replica: ReplicaRegistration): ConsulRegistration | undefined;
  /** Releases the Consul client (after the last channel closed). */
  close(): void;
}

export function selectDiscovery(env: DiscoveryEnv): SelectedDiscovery {
  switch (env.RAG_DISCOVERY) {
    case "consul": {
      const consul = consulSettings(env);
      const discovery = new ConsulDiscovery(consul.agent, consul.watch);
      return {
        kind: "consul",
        discovery,
        consul,
        registration: (replica) => new ConsulRegistration(consul.agent, consul.registration, replica),
        close: () => discovery.close(),
      };
    }
    case "dns":
      return { kind: "dns", discovery: new DnsDiscovery(dnsSettings(env)), registration: () => undefined, close: () => {} };
    default:
      return { kind: "static", discovery: new StaticDiscovery(env.RAG_ENDPOINTS ?? {}), registration: () => undefined, close: () => {} };
  }
}
