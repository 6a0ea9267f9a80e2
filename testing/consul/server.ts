/**
 * A TEST DOUBLE of a Consul agent's HTTP API, for tests only. Consul cannot be installed from the package
 * registries this project may use, so the discovery code is tested against this small server instead. It
 * keeps strictly to what Consul's documentation promises, so code that passes against it works unchanged
 * against a real agent (1.10 or later):
 *
 * - api-docs/agent/service: `PUT /v1/agent/service/register` (CamelCase or snake_case keys; `Check` or
 *   `Checks`; `?replace-existing-checks`), `PUT /v1/agent/service/deregister/:service_id` (an unknown id is
 *   no action), `GET /v1/agent/services` (a map keyed by service id).
 * - api-docs/agent/check: `GET /v1/agent/checks`; check fields `HTTP` (a GET every `Interval`, `Method`,
 *   `Header`, `Body`, `TLSSkipVerify`: 2xx is passing, 429 warning, anything else or no answer within
 *   `Timeout` (default 10s) critical), `TCP` (connect every `Interval`), `TTL` (never run: stays as set),
 *   `Status` (initial status, default critical), `DeregisterCriticalServiceAfter` (a service with a check
 *   critical for longer is deregistered; the minimum is 1 minute and the reaper runs every 30 s, both
 *   settable here like the agent's internal `check_deregister_interval_min` / `check_reap_interval`).
 * - api-docs/health: `GET /v1/health/service/:service` with `?passing` (only instances whose checks all
 *   pass), entries `{ Node, Service, Checks }`.
 * - api-docs/features/blocking: `X-Consul-Index` on the blocking endpoint; with `?index=N` the request
 *   hangs until the service's index passes N or `wait` elapses (default 5m, at most 10m, plus up to wait/16
 *   of jitter). The index is per service name, so unrelated changes do not wake a watcher.
 * - api-docs/api-structure#authentication: with an ACL token configured, a request must carry it in
 *   `X-Consul-Token`, `Authorization: Bearer` or `?token=`; an unknown token gets 403 "ACL not found" and
 *   no token 403 "Permission denied" (the anonymous token under a deny-by-default policy).
 * - TLS (agent configuration `ports.https`, `tls.defaults.verify_incoming`): optional HTTPS, requiring a
 *   client certificate signed by the given CA when one is given.
 *
 * Not modelled: gRPC/script/Docker checks (refused with 400 saying so), the catalog, namespaces, other
 * datacenters, hash-based blocking. Everything runs on one pretend node.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer, request as httpsRequest, type Server as HttpsServer } from "node:https";
import { connect as tcpConnect } from "node:net";
import { once } from "node:events";

export interface ConsulTestServerOptions {
  /** When set, every request must carry this ACL token. */
  aclToken?: string;
  /** Floor for DeregisterCriticalServiceAfter (Consul: 1 minute). */
  checkDeregisterIntervalMinMs?: number;
  /** How often services critical for too long are reaped (Consul: 30 s). */
  checkReapIntervalMs?: number;
  /** The pretend node's name and address (Node.Address is the fallback when a service has none). */
  nodeName?: string;
  nodeAddress?: string;
  /**
   * Serve HTTPS (an agent's `ports.https`) with this key and certificate (PEM); with `ca`, a client
   * certificate signed by it is required, as the agent's `verify_incoming` does.
   */
  tls?: { key: Buffer | string; cert: Buffer | string; ca?: Buffer | string };
}

export type CheckStatus = "passing" | "warning" | "critical";

/** One request as the server saw it, for tests that assert what a client sent. */
export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  token: string | undefined;
}

interface CheckDefinition {
  http?: string;
  method: string;
  header: Record<string, string[]>;
  body?: string;
  tlsSkipVerify: boolean;
  tcp?: string;
  ttl?: string;
  intervalMs: number;
  timeoutMs: number;
  deregisterAfterMs?: number;
  raw: Record<string, unknown>;
}

interface CheckState {
  id: string;
  name: string;
  serviceId: string;
  status: CheckStatus;
  output: string;
  criticalSince?: number;
  definition: CheckDefinition;
  timer?: NodeJS.Timeout;
  running: boolean;
  createIndex: number;
  modifyIndex: number;
}

interface ServiceState {
  ID: string;
  Service: string;
  Tags: string[];
  Address: string;
  Port: number;
  Meta: Record<string, string>;
  Weights: { Passing: number; Warning: number };
  EnableTagOverride: boolean;
  CreateIndex: number;
  ModifyIndex: number;
}

interface Waiter {
  service: string;
  index: number;
  wake: () => void;
}

const MAX_WAIT_MS = 10 * 60_000;
const DEFAULT_WAIT_MS = 5 * 60_000;
const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration ("10s", "1m30s", "500ms") in ms; undefined when it is not one. */
export function parseGoDuration(value: unknown): number | undefined {
  if (typeof value === "number") return value / 1e6; // Go's JSON form of a duration is nanoseconds
  if (typeof value !== "string" || value === "") return undefined;
  if (value === "0") return 0;
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== value) return undefined;
  return parts.reduce((ms, p) => ms + Number(p[1]) * DURATION_UNITS[p[2]!]!, 0);
}

/** Keys compared as Consul's decoder does: case-insensitive, snake_case and CamelCase alike. */
function normaliseKeys(value: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (value && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) out[k.replace(/_/g, "").toLowerCase()] = v;
  }
  return out;
}

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export class ConsulTestServer {
  private readonly server: Server | HttpsServer;
  private readonly services = new Map<string, ServiceState>();
  private readonly checks = new Map<string, CheckState>();
  /** Per service name, the index of its last change (X-Consul-Index of /health/service/:name). */
  private readonly serviceIndex = new Map<string, number>();
  private readonly waiters = new Set<Waiter>();
  private readonly reaper: NodeJS.Timeout;
  private index = 10;
  private closed = false;
  readonly requests: RecordedRequest[] = [];
  private readonly nodeName: string;
  private readonly nodeAddress: string;
  private readonly deregisterMinMs: number;

  private constructor(private readonly options: ConsulTestServerOptions) {
    this.nodeName = options.nodeName ?? "consul-test-node";
    this.nodeAddress = options.nodeAddress ?? "127.0.0.1";
    this.deregisterMinMs = options.checkDeregisterIntervalMinMs ?? 60_000;
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res);
    this.server = options.tls
      ? createHttpsServer({ key: options.tls.key, cert: options.tls.cert, ca: options.tls.ca, requestCert: options.tls.ca !== undefined, rejectUnauthorized: options.tls.ca !== undefined }, handler)
      : createServer(handler);
    this.reaper = setInterval(() => this.reap(), options.checkReapIntervalMs ?? 30_000);
    this.reaper.unref();
  }

  /** Starts a server on 127.0.0.1 with an OS-chosen port. */
  static async start(options: ConsulTestServerOptions = {}): Promise<ConsulTestServer> {
    const s = new ConsulTestServer(options);
    s.server.listen(0, "127.0.0.1");
    await once(s.server, "listening");
    return s;
  }

  get port(): number {
    const address = this.server.address();
    if (!address || typeof address === "string") throw new Error("consul test server is not listening");
    return address.port;
  }

  /** `127.0.0.1:<port>`, the form CONSUL_HTTP_ADDR takes. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** `http://127.0.0.1:<port>` (https:// when serving TLS). */
  get url(): string {
    return `${this.options.tls ? "https" : "http"}://${this.address}`;
  }

  /** The status of each check of a service instance, by check id (tests). */
  checkStatuses(serviceId: string): Record<string, CheckStatus> {
    const out: Record<string, CheckStatus> = {};
    for (const c of this.checks.values()) if (c.serviceId === serviceId) out[c.id] = c.status;
    return out;
  }

  /** The registered service ids (tests). */
  serviceIds(): string[] {
    return [...this.services.keys()].sort();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.reaper);
    for (const c of this.checks.values()) clearTimeout(c.timer);
    for (const w of [...this.waiters]) w.wake();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- HTTP ---------------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://consul");
    const query = Object.fromEntries(url.searchParams);
    const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? "")?.[1];
    const token = (req.headers["x-consul-token"] as string | undefined) ?? bearer ?? query.token;
    this.requests.push({ method: req.method ?? "GET", path: url.pathname, query, token });
    try {
      const body = await readBody(req);
      if (this.options.aclToken !== undefined && token !== this.options.aclToken) {
        throw new HttpError(403, token ? "ACL not found" : "Permission denied: anonymous token lacks permission");
      }
      await this.route(req.method ?? "GET", url, body, res);
    } catch (err) {
      const status = err instanceof HttpError ? err.status : 500;
      if (!res.headersSent) res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
      res.end(err instanceof Error ? err.message : String(err));
    }
  }

  private async route(method: string, url: URL, body: string, res: ServerResponse): Promise<void> {
    const path = url.pathname;
    let m: RegExpExecArray | null;
    if (path === "/v1/agent/service/register") {
      requireMethod(method, "PUT");
      this.register(parseJson(body), url.searchParams.has("replace-existing-checks"));
      return sendJson(res, null);
    }
    if ((m = /^\/v1\/agent\/service\/deregister\/(.+)$/.exec(path))) {
      requireMethod(method, "PUT");
      this.deregister(decodeURIComponent(m[1]!));
      return sendJson(res, null);
    }
    if (path === "/v1/agent/services") {
      requireMethod(method, "GET");
      return sendJson(res, Object.fromEntries([...this.services].map(([id, s]) => [id, this.agentService(s)])));
    }
    if (path === "/v1/agent/checks") {
      requireMethod(method, "GET");
      return sendJson(res, Object.fromEntries([...this.checks].map(([id, c]) => [id, this.healthCheck(c)])));
    }
    if ((m = /^\/v1\/health\/service\/(.+)$/.exec(path))) {
      requireMethod(method, "GET");
      return this.healthService(decodeURIComponent(m[1]!), url.searchParams, res);
    }
    throw new HttpError(404, `the consul test server does not serve ${method} ${path}`);
  }

  // ---- agent/service ------------------------------------------------------------------------------

  private register(raw: unknown, replaceExistingChecks: boolean): void {
    const def = normaliseKeys(raw);
    const name = def.name;
    if (typeof name !== "string" || name === "") throw new HttpError(400, "Missing service name");
    const id = typeof def.id === "string" && def.id !== "" ? def.id : name;
    const port = def.port ?? 0;
    if (typeof port !== "number" || !Number.isInteger(port)) throw new HttpError(400, "Request decode failed: Port must be an integer");
    const checkDefs = Array.isArray(def.checks) ? def.checks : def.check ? [def.check] : [];
    // Validate every check before changing anything: a refused registration leaves no trace.
    const parsed = checkDefs.map((c, i) => {
      const check = normaliseKeys(c);
      const checkId = (check.checkid as string | undefined) || (Array.isArray(def.checks) ? `service:${id}:${i + 1}` : `service:${id}`);
      return { checkId, name: (check.name as string | undefined) || `Service '${name}' check`, status: check.status, definition: parseCheck(check) };
    });

    const index = ++this.index;
    const previous = this.services.get(id);
    if (previous && previous.Service !== name) this.touch(previous.Service, index);
    this.services.set(id, {
      ID: id,
      Service: name,
      Tags: Array.isArray(def.tags) ? def.tags.map(String) : [],
      Address: typeof def.address === "string" ? def.address : "",
      Port: port,
      Meta: (def.meta as Record<string, string> | undefined) ?? {},
      Weights: { Passing: 1, Warning: 1 },
      EnableTagOverride: def.enabletagoverride === true,
      CreateIndex: previous?.CreateIndex ?? index,
      ModifyIndex: index,
    });
    // A re-declared check keeps its status (re-registering must not flap a healthy instance).
    const before = new Map([...this.checks].filter(([, c]) => c.serviceId === id));
    const redeclared = new Set(parsed.map((p) => p.checkId));
    for (const c of before.values()) {
      if (replaceExistingChecks || redeclared.has(c.id)) this.removeCheck(c.id);
    }
    for (const p of parsed) {
      const kept = before.get(p.checkId);
      const initial: CheckStatus = kept?.status ?? (p.status === "passing" || p.status === "warning" ? p.status : "critical");
      const state: CheckState = {
        id: p.checkId,
        name: p.name,
        serviceId: id,
        status: initial,
        output: kept?.output ?? "",
        criticalSince: initial === "critical" ? (kept?.criticalSince ?? Date.now()) : undefined,
        definition: p.definition,
        running: false,
        createIndex: index,
        modifyIndex: index,
      };
      this.checks.set(state.id, state);
      this.schedule(state, 0);
    }
    this.touch(name, index);
  }

  private deregister(id: string): void {
    const service = this.services.get(id);
    if (!service) return; // "If the service does not exist, no action is taken."
    for (const c of [...this.checks.values()]) if (c.serviceId === id) this.removeCheck(c.id);
    this.services.delete(id);
    this.touch(service.Service, ++this.index);
  }

  private removeCheck(id: string): void {
    const c = this.checks.get(id);
    if (!c) return;
    clearTimeout(c.timer);
    this.checks.delete(id);
  }

  /** Records a change to a service name and wakes the blocking queries waiting on it. */
  private touch(service: string, index: number): void {
    this.serviceIndex.set(service, index);
    for (const w of [...this.waiters]) if (w.service === service && index > w.index) w.wake();
  }

  // ---- checks -------------------------------------------------------------------------------------

  private schedule(check: CheckState, delayMs: number): void {
    const def = check.definition;
    if (def.ttl !== undefined || this.closed) return;
    check.timer = setTimeout(() => void this.runCheck(check), delayMs);
    check.timer.unref();
  }

  private async runCheck(check: CheckState): Promise<void> {
    if (this.checks.get(check.id) !== check) return;
    const def = check.definition;
    const result = def.http !== undefined ? await httpCheck(def) : await tcpCheck(def);
    if (this.checks.get(check.id) !== check) return; // deregistered while the probe ran
    this.setStatus(check, result.status, result.output);
    this.schedule(check, def.intervalMs);
  }

  private setStatus(check: CheckState, status: CheckStatus, output: string): void {
    check.output = output;
    if (check.status === status) return;
    check.status = status;
    check.criticalSince = status === "critical" ? Date.now() : undefined;
    const index = ++this.index;
    check.modifyIndex = index;
    const service = this.services.get(check.serviceId);
    if (service) this.touch(service.Service, index);
  }

  /** Deregisters services with a check critical for longer than its DeregisterCriticalServiceAfter. */
  private reap(): void {
    const now = Date.now();
    for (const c of [...this.checks.values()]) {
      const after = c.definition.deregisterAfterMs;
      if (after === undefined || c.criticalSince === undefined) continue;
      if (now - c.criticalSince > Math.max(after, this.deregisterMinMs)) this.deregister(c.serviceId);
    }
  }

  // ---- health -------------------------------------------------------------------------------------

  private async healthService(name: string, params: URLSearchParams, res: ServerResponse): Promise<void> {
    const passing = params.has("passing") && parseBool(params.get("passing")!, "passing");
    const requested = params.has("index") ? Number(params.get("index")) : 0;
    if (!Number.isInteger(requested) || requested < 0) throw new HttpError(400, `Invalid index: ${params.get("index")}`);
    const waitMs = params.has("wait") ? parseGoDuration(params.get("wait")) : DEFAULT_WAIT_MS;
    if (waitMs === undefined) throw new HttpError(400, `Invalid wait time: ${params.get("wait")}`);

    if (requested > 0 && this.indexOf(name) <= requested) {
      const bounded = Math.min(waitMs, MAX_WAIT_MS);
      await this.block(name, requested, bounded + Math.random() * (bounded / 16), res);
    }
    if (res.destroyed) return;
    const entries = [...this.services.values()]
      .filter((s) => s.Service === name)
      .map((s) => ({ Node: this.node(), Service: this.agentService(s), Checks: this.checksOf(s.ID) }))
      .filter((e) => !passing || e.Checks.every((c) => c.Status === "passing"));
    sendJson(res, entries, {
      "X-Consul-Index": String(this.indexOf(name)),
      "X-Consul-KnownLeader": "true",
      "X-Consul-LastContact": "0",
    });
  }

  /** A name never seen has index 1: "always safe to use an index of 1 ... when the data doesn't exist yet". */
  private indexOf(name: string): number {
    return this.serviceIndex.get(name) ?? 1;
  }

  private block(service: string, index: number, ms: number, res: ServerResponse): Promise<void> {
    return new Promise((resolve) => {
      const waiter: Waiter = { service, index, wake: () => done() };
      const timer = setTimeout(() => done(), ms);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        res.off("close", done);
        resolve();
      };
      res.on("close", done); // the client gave up: stop holding it
      this.waiters.add(waiter);
    });
  }

  private node() {
    return {
      ID: "00000000-0000-0000-0000-00000000c0de",
      Node: this.nodeName,
      Address: this.nodeAddress,
      Datacenter: "dc1",
      TaggedAddresses: { lan: this.nodeAddress, wan: this.nodeAddress },
      Meta: {},
    };
  }

  private agentService(s: ServiceState) {
    return { ...s, Datacenter: "dc1" };
  }

  private checksOf(serviceId: string) {
    const service = this.services.get(serviceId)!;
    const own = [...this.checks.values()].filter((c) => c.serviceId === serviceId).map((c) => this.healthCheck(c));
    const serf = {
      Node: this.nodeName,
      CheckID: "serfHealth",
      Name: "Serf Health Status",
      Status: "passing" as CheckStatus,
      Notes: "",
      Output: "Agent alive and reachable",
      ServiceID: "",
      ServiceName: "",
      ServiceTags: [] as string[],
      Type: "",
      CreateIndex: 1,
      ModifyIndex: 1,
    };
    return [serf, ...own.map((c) => ({ ...c, ServiceTags: service.Tags }))];
  }

  private healthCheck(c: CheckState) {
    const service = this.services.get(c.serviceId);
    return {
      Node: this.nodeName,
      CheckID: c.id,
      Name: c.name,
      Status: c.status,
      Notes: "",
      Output: c.output,
      ServiceID: c.serviceId,
      ServiceName: service?.Service ?? "",
      ServiceTags: service?.Tags ?? [],
      Type: c.definition.http !== undefined ? "http" : c.definition.tcp !== undefined ? "tcp" : "ttl",
      Definition: c.definition.raw,
      CreateIndex: c.createIndex,
      ModifyIndex: c.modifyIndex,
    };
  }
}

/** Starts a Consul test server (see the top of this file for what it follows). */
export function startConsulTestServer(options: ConsulTestServerOptions = {}): Promise<ConsulTestServer> {
  return ConsulTestServer.start(options);
}

// ---- helpers --------------------------------------------------------------------------------------

function parseCheck(check: Record<string, unknown>): CheckDefinition {
  const kinds = ["http", "tcp", "ttl", "grpc", "args", "script", "h2ping", "udp", "dockercontainerid", "aliasservice", "aliasnode"].filter(
    (k) => check[k] !== undefined && check[k] !== "",
  );
  if (kinds.some((k) => !["http", "tcp", "ttl"].includes(k))) {
    throw new HttpError(400, `the consul test server runs HTTP, TCP and TTL checks only (got ${kinds.join(", ")})`);
  }
  if (kinds.length === 0) throw new HttpError(400, "Invalid check: one of HTTP, TCP or TTL must be set");
  const intervalMs = parseGoDuration(check.interval);
  if (check.ttl === undefined && (intervalMs === undefined || intervalMs <= 0)) {
    throw new HttpError(400, "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, or TCP checks");
  }
  const timeoutMs = check.timeout === undefined ? 10_000 : parseGoDuration(check.timeout);
  if (timeoutMs === undefined) throw new HttpError(400, `Request decode failed: invalid Timeout ${JSON.stringify(check.timeout)}`);
  const deregister = check.deregistercriticalserviceafter;
  const deregisterAfterMs = deregister === undefined || deregister === "" ? undefined : parseGoDuration(deregister);
  if (deregister !== undefined && deregister !== "" && deregisterAfterMs === undefined) {
    throw new HttpError(400, `Request decode failed: invalid DeregisterCriticalServiceAfter ${JSON.stringify(deregister)}`);
  }
  return {
    http: check.http as string | undefined,
    method: (check.method as string | undefined) || "GET",
    header: (check.header as Record<string, string[]> | undefined) ?? {},
    body: check.body as string | undefined,
    tlsSkipVerify: check.tlsskipverify === true,
    tcp: check.tcp as string | undefined,
    ttl: check.ttl as string | undefined,
    intervalMs: intervalMs ?? 0,
    timeoutMs: timeoutMs > 0 ? timeoutMs : 10_000,
    deregisterAfterMs,
    raw: check,
  };
}

function httpCheck(def: CheckDefinition): Promise<{ status: CheckStatus; output: string }> {
  return new Promise((resolve) => {
    let url: URL;
    try {
      url = new URL(def.http!);
    } catch {
      return resolve({ status: "critical", output: `invalid check URL ${def.http}` });
    }
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    const headers = Object.fromEntries(Object.entries(def.header).map(([k, v]) => [k, v.join(", ")]));
    const req = send(url, { method: def.method, headers, timeout: def.timeoutMs, rejectUnauthorized: !def.tlsSkipVerify }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const code = res.statusCode ?? 0;
        const output = `HTTP ${def.method} ${def.http}: ${code} ${res.statusMessage ?? ""} Output: ${Buffer.concat(chunks).toString("utf8").slice(0, 4096)}`;
        resolve({ status: code >= 200 && code < 300 ? "passing" : code === 429 ? "warning" : "critical", output });
      });
      res.on("error", (err) => resolve({ status: "critical", output: `HTTP ${def.method} ${def.http}: ${err.message}` }));
    });
    req.on("timeout", () => req.destroy(new Error(`request timed out after ${def.timeoutMs} ms`)));
    req.on("error", (err) => resolve({ status: "critical", output: `HTTP ${def.method} ${def.http}: ${err.message}` }));
    req.end(def.body);
  });
}

function tcpCheck(def: CheckDefinition): Promise<{ status: CheckStatus; output: string }> {
  return new Promise((resolve) => {
    const at = def.tcp!.lastIndexOf(":");
    const socket = tcpConnect({ host: def.tcp!.slice(0, at).replace(/^\[|\]$/g, ""), port: Number(def.tcp!.slice(at + 1)) });
    socket.setTimeout(def.timeoutMs, () => socket.destroy(new Error("i/o timeout")));
    socket.on("connect", () => (socket.destroy(), resolve({ status: "passing", output: `TCP connect ${def.tcp}: Success` })));
    socket.on("error", (err) => resolve({ status: "critical", output: `dial tcp ${def.tcp}: ${err.message}` }));
  });
}

function requireMethod(actual: string, expected: string): void {
  if (actual !== expected) throw new HttpError(405, `method ${actual} not allowed`);
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body || "null");
  } catch (err) {
    throw new HttpError(400, `Request decode failed: ${(err as Error).message}`);
  }
}

/** Consul reads a bare `?passing` as true, otherwise Go's strconv.ParseBool. */
function parseBool(value: string, name: string): boolean {
  if (value === "" || ["1", "t", "T", "true", "TRUE", "True"].includes(value)) return true;
  if (["0", "f", "F", "false", "FALSE", "False"].includes(value)) return false;
  throw new HttpError(400, `Invalid value for ?${name}: ${value}`);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function sendJson(res: ServerResponse, value: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(200, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(value));
}
