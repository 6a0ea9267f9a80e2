import { z } from "zod";
import { CATALOGUE, type ServiceName } from "#mesh/catalogue.js";
import { parseEnv, port } from "#mesh/config.js";
import type { Discovery } from "#mesh/discovery.js";

/**
 * Discovery by Kubernetes DNS: `dns:///<service>.<namespace>.svc.<cluster domain>:<port>`, resolved by
 * grpc-js's own DNS resolver. What the name returns depends on the Service behind it:
 *
 * - a headless Service (`clusterIP: None`) returns one A record per ready pod, so the client's round_robin
 *   spreads calls over every replica itself. grpc-js re-resolves when a connection drops, at most every
 *   5 s on the mesh's channels (`grpc.dns_min_time_between_resolutions_ms`, 30 s by default), and a pod that fails readiness leaves the records;
 *   use this without a mesh.
 * - a plain ClusterIP Service returns one virtual IP: every call of a channel goes over one connection to
 *   it, which kube-proxy pins to one pod. Use it only when an Istio sidecar balances per request (the
 *   sidecar intercepts the VIP and balances over the endpoints, with outlier detection and retries).
 */
export interface DnsSettings {
  namespace: string;
  clusterDomain: string;
  /** Per-service gRPC port when the Service does not use the catalogue's. */
  ports: Partial<Record<ServiceName, number>>;
}

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const DNS_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** `name=port,…`: per-service port overrides. */
const portMap = z.string().transform((raw, ctx) => {
  const out: Record<string, number> = {};
  for (const part of raw.split(",").map((p) => p.trim()).filter(Boolean)) {
    const m = /^([a-z][a-z0-9-]*)=(\d{1,5})$/.exec(part);
    const parsed = m ? port.safeParse(m[2]) : undefined;
    if (!m || !parsed?.success || parsed.data === 0) {
      ctx.addIssue({ code: "custom", message: `expected name=port (e.g. retrieval=50054), got ${JSON.stringify(part)}` });
      return z.NEVER;
    }
    out[m[1]!] = parsed.data;
  }
  return out;
});

/** Variables, as a zod shape the runtime can merge; `dnsSettings(env)` turns them into settings. */
export const dnsEnvShape = {
  /** The Kubernetes namespace the services run in. */
  RAG_DNS_NAMESPACE: z.string().regex(DNS_LABEL, "expected a DNS label (lower-case letters, digits, '-')").default("rag"),
  RAG_DNS_CLUSTER_DOMAIN: z.string().regex(DNS_NAME, "expected a domain such as cluster.local").default("cluster.local"),
  /** `retrieval=8443,…` when a Service exposes gRPC on a port other than the catalogue's. */
  RAG_DNS_PORTS: portMap.default({}),
};

export const dnsEnvSchema = z.object(dnsEnvShape);
export type DnsEnv = z.infer<typeof dnsEnvSchema>;

export function dnsSettings(env: DnsEnv): DnsSettings {
  return { namespace: env.RAG_DNS_NAMESPACE, clusterDomain: env.RAG_DNS_CLUSTER_DOMAIN, ports: env.RAG_DNS_PORTS as DnsSettings["ports"] };
}

export function parseDnsSettings(env: NodeJS.ProcessEnv): DnsSettings {
  return dnsSettings(parseEnv(dnsEnvSchema, env));
}

export class DnsDiscovery implements Discovery {
  private readonly settings: DnsSettings;

  constructor(settings: Partial<DnsSettings> = {}) {
    this.settings = { namespace: settings.namespace ?? "rag", clusterDomain: settings.clusterDomain ?? "cluster.local", ports: settings.ports ?? {} };
    if (!DNS_LABEL.test(this.settings.namespace)) throw new Error(`namespace ${JSON.stringify(this.settings.namespace)} is not a DNS label`);
    if (!DNS_NAME.test(this.settings.clusterDomain)) throw new Error(`cluster domain ${JSON.stringify(this.settings.clusterDomain)} is not a domain name`);
  }

  /** `dns:///retrieval.rag.svc.cluster.local:50054` */
  target(name: ServiceName): string {
    const grpcPort = this.settings.ports[name] ?? CATALOGUE[name].grpcPort;
    return `dns:///${name}.${this.settings.namespace}.svc.${this.settings.clusterDomain}:${grpcPort}`;
  }
}
