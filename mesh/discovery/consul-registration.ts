import { readFileSync } from "node:fs";
import { hostname, networkInterfaces } from "node:os";
import { isIP } from "node:net";
import type Consul from "consul";
import { agentUrl, consulClient, type ConsulAgentSettings, type ConsulRegistrationSettings } from "./consul-settings.js";

/**
 * One replica's entry in Consul: it registers on start (unique id, reachable address, gRPC port, tags, meta
 * and an HTTP check on its admin /readyz) and deregisters first when it drains, so clients stop picking it
 * before it stops answering. A replica that crashes instead is removed by the agent once its check has been
 * critical for DeregisterCriticalServiceAfter.
 */
export interface ReplicaRegistration {
  /** The service name clients look up (`retrieval`). */
  service: string;
  grpcPort: number;
  adminPort: number;
  /** The host the gRPC server is bound to; a specific address is also the one advertised by default. */
  bindHost?: string;
  /** Appended to the id (`<service>-<host>-<port>-<suffix>`) when one host and port may be registered twice. */
  idSuffix?: string;
  /** Extra meta on top of version and protocol. */
  meta?: Record<string, string>;
}

const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;
const WILDCARDS = new Set(["0.0.0.0", "::", "[::]", ""]);
const REQUEST_TIMEOUT_MS = 10_000;
/** The package takes a per-request `timeout` (ms) its .d.ts does not declare. */
type WithTimeout = { register(opts: object): Promise<unknown>; deregister(opts: { id: string; timeout: number }): Promise<unknown> };

/**
 * The address other hosts reach this replica at: the configured one, else the bound host when it is a
 * specific address (127.0.0.1 when running locally), else the first non-internal IPv4, else 127.0.0.1.
 * Never a wildcard: 0.0.0.0 is where a server listens, not where a client can connect.
 */
export function advertiseAddress(configured: string | undefined, bindHost: string | undefined, interfaces = networkInterfaces()): string {
  if (configured !== undefined) {
    if (WILDCARDS.has(configured)) throw new Error(`cannot advertise ${JSON.stringify(configured)}: it is a wildcard, not an address other hosts can reach (set RAG_ADVERTISE_ADDRESS)`);
    return configured;
  }
  if (bindHost !== undefined && !WILDCARDS.has(bindHost)) return bindHost;
  for (const list of Object.values(interfaces)) {
    for (const i of list ?? []) if (i.family === "IPv4" && !i.internal) return i.address;
  }
  return "127.0.0.1";
}

export class ConsulRegistration {
  /** The instance id in Consul: unique per agent, stable across restarts on the same host and port. */
  readonly id: string;
  readonly address: string;
  private readonly consul: Consul;
  private registered = false;

  constructor(
    private readonly agent: ConsulAgentSettings,
    private readonly settings: ConsulRegistrationSettings,
    private readonly replica: ReplicaRegistration,
  ) {
    this.address = advertiseAddress(settings.advertiseAddress, replica.bindHost);
    // Host name rather than address in the id: readable in the Consul UI, and a pod's name is unique.
    const host = hostname().replace(/[^A-Za-z0-9.-]/g, "-") || this.address;
    this.id = [replica.service, host, String(replica.grpcPort), replica.idSuffix].filter(Boolean).join("-");
    this.consul = consulClient(agent);
  }

  /** The body sent to PUT /v1/agent/service/register (also what tests compare against). */
  definition() {
    const checkHost = isIP(this.address) === 6 ? `[${this.address}]` : this.address;
    return {
      id: this.id,
      name: this.replica.service,
      address: this.address,
      port: this.replica.grpcPort,
      tags: [...new Set(["grpc", ...this.settings.tags])],
      meta: { version: PACKAGE_VERSION, protocol: "grpc", ...this.replica.meta },
      check: {
        checkid: `${this.id}:readyz`,
        name: `${this.replica.service} readiness (admin /readyz)`,
        http: `http://${checkHost}:${this.replica.adminPort}/readyz`,
        interval: this.settings.checkInterval,
        timeout: this.settings.checkTimeout,
        deregistercriticalserviceafter: this.settings.deregisterCriticalServiceAfter,
      },
    };
  }

  /** Registers (or re-registers: the same id replaces the old entry) this replica with the agent. */
  async register(): Promise<void> {
    try {
      await (this.consul.agent.service as unknown as WithTimeout).register({ ...this.definition(), timeout: REQUEST_TIMEOUT_MS });
    } catch (err) {
      throw agentError(this.agent, `register ${this.id}`, "the registration", err);
    }
    this.registered = true;
  }

  /**
   * Removes this replica from Consul: called first when draining, so clients stop picking it while it still
   * answers what they already sent. Safe to call twice; a replica never registered does nothing.
   */
  async deregister(): Promise<void> {
    if (!this.registered) return;
    try {
      await (this.consul.agent.service as unknown as WithTimeout).deregister({ id: this.id, timeout: REQUEST_TIMEOUT_MS });
    } catch (err) {
      throw agentError(this.agent, `deregister ${this.id}`, "the deregistration", err);
    }
    this.registered = false;
  }

  /** Closes the client's connections (after deregister). */
  close(): void {
    this.consul.destroy();
  }
}

/** "consul agent at X refused the registration: 403 ACL not found" or "could not reach the consul agent at X". */
export function agentError(agent: ConsulAgentSettings, action: string, what: string, err: unknown): Error {
  const e = err as { message?: string; response?: { statusCode?: number; body?: unknown }; code?: string };
  // The consul package prefixes its own "consul: agent.service.register: "; the status and the agent's words matter.
  const reason = (e.message ?? String(err)).replace(/^consul: [\w.]+: /, "");
  const status = e.response?.statusCode;
  const message =
    status !== undefined
      ? `consul agent at ${agentUrl(agent)} refused ${what} (${action}): ${status} ${bodyText(e.response?.body) ?? reason}`
      : `could not reach the consul agent at ${agentUrl(agent)} to ${action}: ${reason}`;
  return new Error(message, { cause: err });
}

function bodyText(body: unknown): string | undefined {
  if (typeof body === "string" && body.trim()) return body.trim();
  if (Buffer.isBuffer(body) && body.length) return body.toString("utf8").trim();
  return undefined;
}
