import type { ServiceName } from "#mesh/catalogue.js";
import { endpointList } from "#mesh/config.js";
import { StaticDiscovery } from "#mesh/discovery.js";
import { UsageError } from "./output.js";

/** What every command needs: who we are and where the services are. */
export interface CliContext {
  tenant: string;
  json: boolean;
  discovery: StaticDiscovery;
  metadata: Record<string, string>;
  target(name: ServiceName): string;
}

export function cliContext(opts: { tenant?: string; json?: boolean }): CliContext {
  const tenant = opts.tenant ?? process.env.RAG_TENANT ?? "default";
  const parsed = endpointList.safeParse(process.env.RAG_ENDPOINTS ?? "");
  if (!parsed.success) throw new UsageError(`RAG_ENDPOINTS: ${parsed.error.issues[0]?.message}`);
  const discovery = new StaticDiscovery(parsed.data);
  return {
    tenant,
    json: opts.json ?? false,
    discovery,
    metadata: { "x-tenant-id": tenant },
    target: (name) => discovery.target(name),
  };
}
