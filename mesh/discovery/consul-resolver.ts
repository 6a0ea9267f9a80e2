import { EventEmitter } from "node:events";
import { experimental, Metadata, status, type ChannelOptions } from "@grpc/grpc-js";
import type Consul from "consul";
import type { ServiceName } from "#mesh/catalogue.js";
import type { Discovery } from "#mesh/discovery.js";
import { agentUrl, consulClient, type ConsulAgentSettings, type ConsulWatchSettings } from "./consul-settings.js";

/**
 * Clients find a service's healthy replicas through Consul: a grpc-js resolver for `consul://<agent>/<name>`
 * targets, fed by blocking queries on /v1/health/service/<name>?passing. A replica whose check fails leaves
 * the picks as soon as the agent marks it critical (one check interval), a new one joins once its check
 * passes, and no client restarts.
 *
 * grpc-js registers resolvers per URI scheme, process-wide, and hands a resolver only the target and channel
 * options. So the agent settings travel by name: `new ConsulDiscovery(settings)` records them under the
 * agent's `host:port`, and its targets carry that as the URI authority. `consul:///<name>` (no authority)
 * means "the only agent recorded", for hand-written targets.
 *
 * grpc-js calls the resolver API experimental (grpc-node#719): this file is the only one that touches it,
 * written against @grpc/grpc-js 1.14.7 (pinned in package.json), where the listener is a function
 * `(endpoints, attributes, serviceConfig, note) => boolean`.
 */
export const CONSUL_SCHEME = "consul";

interface AgentEntry {
  settings: ConsulAgentSettings;
  watch: ConsulWatchSettings;
  consul: Consul;
  users: number;
}

const agents = new Map<string, AgentEntry>();
let schemeRegistered = false;

/** The `host:port` naming an agent in a target's authority. */
function agentKey(agent: ConsulAgentSettings): string {
  return `${agent.host.includes(":") ? `[${agent.host}]` : agent.host}:${agent.port}`;
}

function sameAgent(a: ConsulAgentSettings, b: ConsulAgentSettings): boolean {
  const eq = (x?: Buffer, y?: Buffer) => (x === undefined ? y === undefined : y !== undefined && x.equals(y));
  return (
    a.scheme === b.scheme &&
    a.token === b.token &&
    eq(a.tls?.ca, b.tls?.ca) &&
    eq(a.tls?.cert, b.tls?.cert) &&
    eq(a.tls?.key, b.tls?.key) &&
    a.tls?.serverName === b.tls?.serverName
  );
}

export class ConsulDiscovery implements Discovery {
  private readonly key: string;
  private closed = false;

  constructor(agent: ConsulAgentSettings, watch: ConsulWatchSettings = { wait: "30s", debounceMs: 100 }) {
    if (!schemeRegistered) {
      experimental.registerResolver(CONSUL_SCHEME, ConsulResolver);
      schemeRegistered = true;
    }
    this.key = agentKey(agent);
    const existing = agents.get(this.key);
    if (existing) {
      // Two configurations for one agent address would make a target ambiguous: refuse rather than guess.
      if (!sameAgent(existing.settings, agent)) {
        throw new Error(`a ConsulDiscovery for the agent at ${this.key} already exists with other settings (scheme, token or TLS); one process talks to one agent one way`);
      }
      existing.users += 1;
    } else {
      agents.set(this.key, { settings: agent, watch, consul: consulClient(agent), users: 1 });
    }
  }

  /** `consul://<agent host:port>/<name>`: a grpc target resolved through this agent. */
  target(name: ServiceName): string {
    return `${CONSUL_SCHEME}://${this.key}/${name}`;
  }

  /** Releases the agent's client once no ConsulDiscovery uses it (channels already open keep theirs working until closed). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const entry = agents.get(this.key);
    if (entry && --entry.users === 0) {
      agents.delete(this.key);
      entry.consul.destroy();
    }
  }
}

function lookupAgent(authority: string | undefined): AgentEntry {
  if (authority) {
    const entry = agents.get(authority);
    if (!entry) throw new Error(`no Consul agent settings for ${CONSUL_SCHEME}://${authority}/: create a ConsulDiscovery with that agent's settings first`);
    return entry;
  }
  if (agents.size !== 1) {
    throw new Error(`${CONSUL_SCHEME}:/// names no agent and ${agents.size} are known: use the target ConsulDiscovery.target() returns`);
  }
  return [...agents.values()][0]!;
}

type Endpoint = { addresses: { host: string; port: number }[] };

/** Token bucket (blocking.mdx: "a token bucket with burst of 2"): quick successive queries, then one per interval. */
class TokenBucket {
  private tokens: number;
  private last = Date.now();
  constructor(private readonly burst: number, private readonly refillMs: number) {
    this.tokens = burst;
  }
  /** Ms to wait before the next query may go; 0 means go now, and takes a token. */
  take(): number {
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + (now - this.last) / this.refillMs);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - this.tokens) * this.refillMs);
  }
}

// Under churn, at most one query per half second per channel after a burst of two: a storm is bounded, and a
// change still reaches clients well within the ~2 s promise.
const MIN_QUERY_INTERVAL_MS = 500;
const BACKOFF_FIRST_MS = 250;
const BACKOFF_MAX_MS = 30_000;

class ConsulResolver implements experimental.Resolver {
  private readonly service: string;
  private readonly entry: AgentEntry | undefined;
  private readonly setupError: string | undefined;
  private running = false;
  private index = 0n;
  private failures = 0;
  /** Aborts the blocking query in flight. */
  private ctx: EventEmitter | undefined;
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private readonly bucket = new TokenBucket(2, MIN_QUERY_INTERVAL_MS);
  /** Last endpoints handed to grpc-js, as sorted `host:port` keys, to skip deliveries that change nothing. */
  private delivered: string | undefined;
  /** The newest answer, delivered when the debounce ends. */
  private latest: { endpoints: Endpoint[]; note: string } | undefined;

  constructor(
    target: experimental.GrpcUri,
    private readonly listener: experimental.ResolverListener,
    _options: ChannelOptions,
  ) {
    this.service = target.path.replace(/^\//, "");
    let entry: AgentEntry | undefined;
    let error: string | undefined;
    try {
      entry = lookupAgent(target.authority);
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(this.service)) error = `"${this.service}" is not a service name (target ${experimental.uriToString(target)})`;
    } catch (err) {
      error = (err as Error).message;
    }
    this.entry = entry;
    this.setupError = error;
  }

  static getDefaultAuthority(target: experimental.GrpcUri): string {
    // The :authority calls carry: the service's name, as with a dns: target.
    return target.path.replace(/^\//, "");
  }

  updateResolution(): void {
    if (this.setupError !== undefined) {
      const details = this.setupError;
      process.nextTick(() => this.listener(experimental.statusOrFromError({ code: status.UNAVAILABLE, details, metadata: new Metadata() }), {}, null, ""));
      return;
    }
    // Once running, the watch delivers every change by itself. A re-resolution request (grpc-js sends one
    // whenever a connection drops) is not answered with the same list again: each delivery rebuilds the
    // balancer's children, whose state changes ask for re-resolution again, a busy loop seen in testing.
    if (!this.running) {
      this.running = true;
      this.schedule(0);
    }
  }

  destroy(): void {
    this.running = false;
    clearTimeout(this.timer);
    clearTimeout(this.debounce);
    this.ctx?.emit("cancel");
    this.ctx = undefined;
    // A later updateResolution starts afresh, as the Resolver contract asks.
    this.index = 0n;
    this.delivered = undefined;
    this.latest = undefined;
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.query(), ms);
  }

  private async query(): Promise<void> {
    if (!this.running || !this.entry) return;
    const wait = this.bucket.take();
    if (wait > 0) return this.schedule(wait);
    const { consul, watch, settings } = this.entry;
    const ctx = Object.assign(new EventEmitter(), { includeResponse: true });
    this.ctx = ctx;
    const waitMs = durationMs(watch.wait);
    try {
      // index, wait, timeout and ctx (cancellation, response headers) are options the package's .d.ts omits.
      const health = consul.health as unknown as { service(opts: object): Promise<[{ headers: Record<string, string | undefined> }, HealthEntry[]]> };
      const [res, body] = await health.service({
        service: this.service,
        passing: true,
        // No index on the first query: it answers at once with the current list and index.
        ...(this.index > 0n ? { index: this.index.toString(), wait: watch.wait } : {}),
        // The agent may hold the query wait + wait/16; give it that and a margin before calling it dead.
        timeout: Math.ceil(waitMs + waitMs / 16 + 5_000),
        ctx,
      });
      if (!this.running || this.ctx !== ctx) return;
      this.failures = 0;
      const next = parseIndex(res.headers["x-consul-index"]);
      if (next === undefined) throw new Error(`the agent's answer has no X-Consul-Index header: ${agentUrl(settings)} does not look like a Consul agent`);
      // blocking.mdx: reset when the index goes backwards; never block on an index below 1.
      this.index = next < this.index ? 0n : next < 1n ? 1n : next;
      this.offer(body);
      this.schedule(0);
    } catch (err) {
      if (!this.running || this.ctx !== ctx) return;
      this.failures += 1;
      const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (this.failures - 1));
      const statusCode = (err as { response?: { statusCode?: number } }).response?.statusCode;
      // 403 and 400 will not heal by retrying fast; they still retry slowly, in case a token is fixed.
      const delay = statusCode === 403 || statusCode === 400 ? BACKOFF_MAX_MS : backoff * (0.8 + Math.random() * 0.4);
      const reason = ((err as Error).message ?? String(err)).replace(/^consul: [\w.]+: /, "");
      const details = `consul agent at ${agentUrl(settings)} could not list the passing instances of ${this.service}: ${statusCode ?? ""} ${reason}`.replace(/\s+/g, " ");
      // grpc-js keeps the replicas it already has on an error, so a Consul outage does not cut working calls.
      this.listener(experimental.statusOrFromError({ code: status.UNAVAILABLE, details, metadata: new Metadata() }), {}, null, "");
      this.schedule(delay);
    }
  }

  /** Takes a new answer; hands it to grpc-js after the debounce, and only if the endpoints changed. */
  private offer(entries: HealthEntry[]): void {
    const endpoints = toEndpoints(entries);
    const note = endpoints.length === 0 ? `no passing instance of "${this.service}" in Consul at ${agentUrl(this.entry!.settings)}` : "";
    this.latest = { endpoints, note };
    const key = endpoints.map((e) => `${e.addresses[0]!.host}:${e.addresses[0]!.port}`).join(",");
    if (key === this.delivered) {
      clearTimeout(this.debounce); // a flap back within the debounce window: nothing to deliver
      this.debounce = undefined;
      return;
    }
    const deliver = () => {
      this.debounce = undefined;
      if (!this.running || !this.latest) return;
      this.delivered = key;
      const { endpoints, note } = this.latest;
      this.listener(experimental.statusOrFromValue(endpoints), {}, null, note);
      // grpc-js 1.14.7's round_robin turns IDLE on an empty list and queues calls until their deadline;
      // an error after it (now that no replica is left) makes calls fail at once with UNAVAILABLE and the note.
      if (endpoints.length === 0) this.listener(experimental.statusOrFromError({ code: status.UNAVAILABLE, details: note, metadata: new Metadata() }), {}, null, note);
    };
    clearTimeout(this.debounce);
    // The first answer goes at once: calls are queued waiting for it.
    if (this.delivered === undefined) return deliver();
    this.debounce = setTimeout(deliver, this.entry!.watch.debounceMs);
  }
}

interface HealthEntry {
  Node?: { Address?: string };
  Service?: { Address?: string; Port?: number };
}

/** Instances as grpc-js endpoints, sorted so equal sets compare equal. The service address wins over the node's. */
export function toEndpoints(entries: HealthEntry[]): Endpoint[] {
  const seen = new Set<string>();
  const out: Endpoint[] = [];
  for (const e of entries) {
    const host = e.Service?.Address || e.Node?.Address;
    const port = e.Service?.Port;
    if (!host || !port) continue;
    const key = `${host}:${port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ addresses: [{ host: host.replace(/^\[|\]$/g, ""), port }] });
  }
  return out.sort((a, b) => `${a.addresses[0]!.host}:${a.addresses[0]!.port}`.localeCompare(`${b.addresses[0]!.host}:${b.addresses[0]!.port}`));
}

function parseIndex(value: string | undefined): bigint | undefined {
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  return BigInt(value);
}

function durationMs(value: string): number {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const m of value.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * units[m[2]!]!;
  return total;
}
