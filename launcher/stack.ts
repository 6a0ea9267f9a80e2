/**
 * The local stack as one object: Postgres (embedded, or an external DATABASE_URL), one database per
 * service that keeps state, every service as its own process, and an orderly stop — services first,
 * the database last. Once the stack is up, a service, the gateway or the embedded postmaster that ends on
 * its own is restarted on the same ports after a backoff (KeptProcess, RestartPolicy), so the stack heals
 * without a person; during start-up one dead process still fails the whole start. main.ts wraps it in a
 * CLI; tests may use startStack() directly.
 */
import { randomBytes } from "node:crypto";
import { setMaxListeners } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { SERVICE_NAMES, serviceNodeArgs, type ServiceName } from "#mesh/catalogue.js";
import { DEFAULT_PG_PORT, DEFAULT_START_TIMEOUT_MS } from "./config.js";
import { ensureDatabase } from "./databases.js";
import { databaseName, endpointsVariable, planEndpoints, type Endpoint, type ReplicaCounts } from "./endpoints.js";
import { waitUntilServing } from "./health.js";
import { createPrefixedLog, wantsColour, type PrefixedLog } from "./log-prefix.js";
import { OrphanGuard } from "./orphan-guard.js";
import { assertPortsFree, LOOPBACK, type PortClaim } from "./ports.js";
import { startPostgres, type PostgresServer } from "./postgres.js";
import { DEFAULT_REDIS_PORT, redisSpec, waitUntilRedisAnswers } from "./redis.js";
import { planReplicaStores, ReplicaRefusal } from "./replica-stores.js";
import { formatDuration, RestartPolicy, type RestartPolicyOptions } from "./restart-policy.js";
import { describeExit, KeptProcess, type ChildExit, type ChildSpec, type KeptState } from "./supervisor.js";

export interface StackOptions {
  rootDir: string;
  dataDir: string;
  pgPort?: number;
  grpcPortBase?: number;
  adminPortBase?: number;
  /** Use this Postgres server instead of starting one. */
  databaseUrl?: string;
  services?: readonly ServiceName[];
  /** Processes per service (RAG_REPLICAS); each has its own ports, log prefix, status row and restarts. */
  replicas?: ReplicaCounts;
  /** Where the launcher's own redis-server listens when query replicas need one (default 6390). */
  redisPort?: number;
  startTimeoutMs?: number;
  /** Per service: how long after SIGTERM before SIGKILL. */
  stopTimeoutMs?: number;
  /** Environment the services inherit (default: ours). */
  env?: NodeJS.ProcessEnv;
  /** Where the prefixed log goes (default: our stdout, colour when it is a terminal). */
  log?: PrefixedLog;
  /** The REST gateway's port (gateway/node, started once every service is SERVING); false: no gateway. */
  gatewayPort?: number | false;
  /** A service or Postgres ended while the stack was up. The rest keep running, and it is restarted. */
  onUnexpectedExit?: (name: string, exit: ChildExit) => void;
  /**
   * Restarts of a process that ends while the stack is up (services, the gateway, embedded Postgres):
   * backoff numbers (default restart-policy.ts: 0.5 s doubling to 30 s), or false for none (report only).
   */
  restart?: Partial<RestartPolicyOptions> | false;
  /** A process changed state (crashed, restarting, back) or its restart count changed: reprint a table. */
  onStatusChange?: () => void;
}

/** One line of the status table. */
export interface ProcessStatus {
  name: string;
  pid?: number;
  state: KeptState;
  restarts: number;
}

export interface StackInfo {
  /** The started services' processes, in catalogue order, each service's replicas together. */
  endpoints: Endpoint[];
  /** DATABASE_URL handed to each service that keeps state. */
  databaseUrls: Partial<Record<ServiceName, string>>;
  /**
   * Process ids by Endpoint.id (the service name, or "query#2" for a replica), "gateway", "redis" when the
   * launcher started one, and "postgres" for the embedded postmaster. Updated on every restart.
   */
  pids: Record<string, number>;
  postgres?: { url: string; port: number; pid?: number; initialised?: boolean };
  /** e.g. http://127.0.0.1:8080, when the gateway runs. */
  gatewayUrl?: string;
  /** redis://127.0.0.1:6390 when the launcher started a Redis for query replicas. */
  redisUrl?: string;
}

export class StartupError extends Error {
  override name = "StartupError";
}

export class LocalStack implements StackInfo {
  endpoints: Endpoint[] = [];
  databaseUrls: Partial<Record<ServiceName, string>> = {};
  pids: Record<string, number> = {};
  postgres?: StackInfo["postgres"];
  gatewayUrl?: string;
  redisUrl?: string;

  private readonly options: StackOptions;
  private readonly log: PrefixedLog;
  private readonly abort = new AbortController();
  private guard: OrphanGuard | undefined;
  private readonly children: KeptProcess[] = [];
  private server: PostgresServer | undefined;
  private postgresState: KeptState = "starting";
  private postgresRestarts = 0;
  /** A Postgres restart in progress; stop() waits for it, then stops what it started. */
  private postgresRestart: Promise<void> | undefined;
  private postgresPolicy: RestartPolicy | undefined;
  private postgresStartedAt = 0;
  private up = false;
  private bringingUp: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;

  constructor(options: StackOptions) {
    this.options = options;
    this.log = options.log ?? createPrefixedLog({ sources: logSources(options.services, options.replicas), colour: wantsColour() });
  }

  /** Resolves once every service reports SERVING; on failure everything started is stopped first. */
  async start(): Promise<this> {
    this.bringingUp = this.bringUp();
    try {
      await this.bringingUp;
      // A process that died in the last moments of start-up aborted it after bringUp had finished.
      this.checkNotAborted();
      this.up = true;
      for (const child of this.children) child.markRunning();
      if (this.server) this.postgresState = "running";
      return this;
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** Services first (SIGTERM, bounded, then SIGKILL), then Postgres. Safe to call at any time, twice. */
  stop(): Promise<void> {
    return (this.stopping ??= (async () => {
      this.abort.abort(new StartupError("start-up interrupted: the stack is stopping"));
      await this.bringingUp?.catch(() => undefined);
      // Above a service's own bound (SHUTDOWN_GRACE_MS 10 s + 5 s in mesh/service.ts), so SIGKILL is for hangs only.
      const timeout = this.options.stopTimeoutMs ?? 20_000;
      await Promise.all(
        this.children.map(async (child) => {
          const { exit, wasRunning } = await child.stop(timeout);
          if (wasRunning) this.say(`${child.name} stopped (${describeExit(exit)})`);
        }),
      );
      await this.postgresRestart;
      if (this.server) {
        await this.server.stop();
        this.say("postgres stopped");
      }
      await this.guard?.disarm();
    })());
  }

  /** Forced stop for a second Ctrl-C: SIGKILL the services, immediate shutdown for Postgres. */
  async kill(): Promise<void> {
    this.abort.abort(new StartupError("start-up interrupted: the stack was killed"));
    const killed = this.children.map((c) => c.kill());
    this.server?.kill();
    // A Postgres restart in flight sees the abort and shuts down what it started.
    const all = Promise.all([...killed, this.server?.exited, this.postgresRestart]);
    await Promise.race([all, new Promise((r) => setTimeout(r, 5_000).unref())]);
    await this.guard?.disarm();
  }

  private say(text: string): void {
    this.log.line("launcher", text);
  }

  private checkNotAborted(): void {
    if (this.abort.signal.aborted) throw this.abort.signal.reason;
  }

  private async bringUp(): Promise<void> {
    const o = this.options;
    const wanted = o.services ?? SERVICE_NAMES;
    const all = planEndpoints({ grpcPortBase: o.grpcPortBase, adminPortBase: o.adminPortBase }, o.replicas);
    this.endpoints = all.filter((e) => wanted.includes(e.name));
    const env = o.env ?? process.env;
    let stores: ReturnType<typeof planReplicaStores>;
    try {
      stores = planReplicaStores(o.replicas ?? {}, env);
    } catch (err) {
      if (err instanceof ReplicaRefusal) throw new StartupError(err.message);
      throw err;
    }
    const redisPort = o.redisPort ?? DEFAULT_REDIS_PORT;
    const needsDatabase = this.endpoints.some((e) => e.database);
    const pgPort = o.pgPort ?? DEFAULT_PG_PORT;

    for (const e of this.endpoints) {
      if (!existsSync(path.join(o.rootDir, entryPoint(e.name)))) throw new StartupError(`${entryPoint(e.name)} does not exist in ${o.rootDir}`);
    }
    const claims: PortClaim[] = this.endpoints.flatMap((e) => [
      { port: e.grpcPort, owner: `${e.id} gRPC` },
      { port: e.adminPort, owner: `${e.id} admin` },
    ]);
    if (stores.redisServer) claims.push({ port: redisPort, owner: "redis for the query replicas" });
    if (needsDatabase && !o.databaseUrl) claims.push({ port: pgPort, owner: "embedded Postgres" });
    if (o.gatewayPort) claims.push({ port: o.gatewayPort, owner: "REST gateway" });
    await assertPortsFree(claims, "Is another stack running? Stop it, or pick other ports with RAG_GRPC_PORT_BASE, RAG_ADMIN_PORT_BASE, RAG_PG_PORT, RAG_REDIS_PORT").catch(
      (err: Error) => {
        throw new StartupError(err.message);
      },
    );

    if (needsDatabase) await this.startDatabases(pgPort);
    this.checkNotAborted();

    // One service-token secret for this run (mesh/auth/service-token.ts), unless the operator gave one.
    const internalSecret = env.RAG_INTERNAL_SECRET || randomBytes(32).toString("hex");
    const discovery = endpointsVariable(all); // all services, started or not: a subset may run elsewhere
    // If we are killed outright, the services still go: they exit when their stdin closes, and this guard
    // SIGTERMs any that do not.
    this.guard = new OrphanGuard();
    if (stores.redisServer) await this.startRedis(stores.redisServer, redisPort);
    for (const e of this.endpoints) {
      const childEnv: NodeJS.ProcessEnv = {
        ...env,
        GRPC_HOST: LOOPBACK,
        GRPC_PORT: String(e.grpcPort),
        ADMIN_PORT: String(e.adminPort),
        // Admin too on loopback only: the local stack is for this machine (the mesh default is 0.0.0.0).
        ADMIN_HOST: LOOPBACK,
        RAG_ENDPOINTS: discovery,
        RAG_EXIT_WITH_STDIN: "1",
        RAG_DATA_DIR: o.dataDir,
        RAG_INTERNAL_SECRET: internalSecret,
      };
      // Only services that keep state see a database; the others must not inherit one by accident.
      if (this.databaseUrls[e.name]) childEnv.DATABASE_URL = this.databaseUrls[e.name];
      else delete childEnv.DATABASE_URL;
      if (e.name === "query" && this.redisUrl) childEnv.REDIS_URL = this.redisUrl;
      const child = this.keep(
        { name: e.id, command: process.execPath, args: serviceNodeArgs(e.name), cwd: o.rootDir, env: childEnv },
        "SERVING",
        (signal) => waitUntilServing(e.grpcAddress, e.grpcService, { signal }),
      );
      this.say(`started ${e.id} (pid ${child.pid ?? "?"}) on ${e.grpcAddress}, admin ${e.adminPort}`);
    }
    await this.waitAllServing();
    if (o.gatewayPort) await this.startGateway(o.gatewayPort, { ...env, RAG_ENDPOINTS: discovery, RAG_INTERNAL_SECRET: internalSecret });
  }

  /**
   * The Redis that query replicas share (replica-stores.ts), before the services that use it; kept and
   * restarted like any process. A restarted one is empty: submitted asks in flight are lost, cached
   * answers are recomputed.
   */
  private async startRedis(binary: string, port: number): Promise<void> {
    const o = this.options;
    const dir = path.join(o.dataDir, "redis");
    await mkdir(dir, { recursive: true });
    const child = this.keep(redisSpec(binary, port, dir), "up", (signal) => waitUntilRedisAnswers(port, signal));
    const timeoutMs = o.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    try {
      await waitUntilRedisAnswers(port, AbortSignal.any([this.abort.signal, AbortSignal.timeout(timeoutMs)]));
    } catch {
      this.checkNotAborted();
      throw new StartupError(`redis-server did not answer on ${LOOPBACK}:${port} within ${timeoutMs} ms${lastLinesOf(child)}`);
    }
    this.redisUrl = `redis://${LOOPBACK}:${port}`;
    this.say(`redis is up on ${this.redisUrl} (pid ${child.pid ?? "?"}), shared by the query replicas`);
  }

  /** The REST edge, after the services it forwards to; ready once its /healthz answers. */
  private async startGateway(port: number, env: NodeJS.ProcessEnv): Promise<void> {
    const o = this.options;
    const gatewayEnv: NodeJS.ProcessEnv = { ...env, GATEWAY_HOST: LOOPBACK, GATEWAY_PORT: String(port), RAG_EXIT_WITH_STDIN: "1" };
    delete gatewayEnv.DATABASE_URL;
    const url = `http://${LOOPBACK}:${port}`;
    const child = this.keep(
      {
        name: "gateway",
        command: process.execPath,
        args: ["--import", "tsx", "--import", "./mesh/telemetry/register.ts", "gateway/node/main.ts"],
        cwd: o.rootDir,
        env: gatewayEnv,
      },
      "up",
      (signal) => waitUntilAnswering(`${url}/healthz`, signal),
    );
    const timeoutMs = o.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    try {
      await waitUntilAnswering(`${url}/healthz`, AbortSignal.any([this.abort.signal, AbortSignal.timeout(timeoutMs)]));
    } catch {
      this.checkNotAborted();
      throw new StartupError(`the gateway did not answer ${url}/healthz within ${timeoutMs} ms${lastLinesOf(child)}`);
    }
    this.gatewayUrl = url;
    this.say(`gateway is up on ${url}`);
  }

  private async startDatabases(pgPort: number): Promise<void> {
    const o = this.options;
    let serverUrl: string;
    if (o.databaseUrl) {
      serverUrl = o.databaseUrl;
      this.say(`using external Postgres ${redact(serverUrl)}`);
      this.postgres = { url: serverUrl, port: Number(new URL(serverUrl).port || 5432) };
    } else {
      const server = await this.launchPostgres(pgPort).catch((err: Error) => {
        throw new StartupError(`postgres: ${err.message}`);
      });
      serverUrl = server.url();
      this.postgres = { url: serverUrl, port: pgPort, pid: server.pid, initialised: server.initialised };
      this.say(`postgres ready on ${LOOPBACK}:${pgPort} (pid ${server.pid}, ${server.initialised ? "new cluster" : "existing data"})`);
    }
    await Promise.all(
      this.endpoints
        .filter((e) => e.database && e.replica === 1) // one database per service, whatever its replicas
        .map(async (e) => {
          const name = databaseName(e.name);
          this.databaseUrls[e.name] = await ensureDatabase(serverUrl, name).catch((err: Error) => {
            throw new StartupError(`could not create database ${name} on ${redact(serverUrl)}: ${err.message}`);
          });
        }),
    );
  }

  private async waitAllServing(): Promise<void> {
    const timeoutMs = this.options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(timeoutMs)]);
    // One waiter per process listens on it (and on the stack's own signal): with replicas, more than the
    // default 10 that Node warns about.
    setMaxListeners(this.endpoints.length + 10, signal, this.abort.signal);
    const pending = new Set(this.endpoints.map((e) => e.id));
    const results = await Promise.allSettled(
      this.endpoints.map(async (e) => {
        await waitUntilServing(e.grpcAddress, e.grpcService, { signal });
        pending.delete(e.id);
        this.say(`${e.id} is SERVING`);
      }),
    );
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failures.length === 0) return;
    if (this.abort.signal.aborted) throw this.abort.signal.reason;
    throw new StartupError(
      `not every service reported SERVING within ${timeoutMs} ms (RAG_START_TIMEOUT_MS):\n  ` +
        failures.map((f) => (f.reason as Error).message).join("\n  ") +
        this.endpoints
          .filter((e) => pending.has(e.id))
          .map((e) => lastLinesOf(this.children.find((c) => c.name === e.id)!))
          .join(""),
    );
  }

  /** Starts one process of the stack under supervision: restarted (once the stack is up) when it ends on its own. */
  private keep(spec: ChildSpec, readyWord: string, ready: (signal: AbortSignal) => Promise<void>): KeptProcess {
    const restart = this.options.restart;
    const child: KeptProcess = new KeptProcess({
      spec,
      onLine: (line) => this.log.line(spec.name, line),
      guard: this.guard,
      say: (text) => this.say(text),
      ...(restart !== false ? { policy: new RestartPolicy(restart) } : {}),
      ready,
      readyWord,
      readyTimeoutMs: this.options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS,
      onStart: (proc) => {
        if (proc.pid) this.pids[spec.name] = proc.pid;
      },
      onExit: (exit) => this.onChildExit(child, exit),
      onChange: () => this.options.onStatusChange?.(),
    });
    this.children.push(child);
    return child;
  }

  /** Whether the supervisor should restart it (the stack is up) or not (stopping, starting, no restarts). */
  private onChildExit(child: KeptProcess, exit: ChildExit): boolean {
    if (this.stopping) return false;
    if (!this.up) {
      // During start-up one dead service fails the whole start: stop everything, say why.
      this.abort.abort(new StartupError(`${child.name} exited during start-up (${describeExit(exit)})${lastLinesOf(child)}`));
      return false;
    }
    this.options.onUnexpectedExit?.(child.name, exit);
    if (this.options.restart === false) {
      this.say(`${child.name} exited unexpectedly (${describeExit(exit)}); restarts are off, the other services keep running`);
      return false;
    }
    return true;
  }

  /** Every supervised process and where it stands, services in catalogue order, then the gateway, then Postgres. */
  status(): ProcessStatus[] {
    const rows: ProcessStatus[] = this.children.map((c) => ({ name: c.name, pid: c.pid, state: c.status, restarts: c.restarts }));
    if (this.server) rows.push({ name: "postgres", pid: this.server.pid, state: this.postgresState, restarts: this.postgresRestarts });
    return rows;
  }

  /** The embedded postmaster, watched: once the stack is up, a postmaster that dies is started again. */
  private async launchPostgres(port: number): Promise<PostgresServer> {
    const server = await startPostgres({
      dataDir: path.join(this.options.dataDir, "postgres"),
      port,
      onLog: (line) => this.log.line("postgres", line),
      signal: this.abort.signal,
    });
    this.server = server;
    this.postgresStartedAt = performance.now();
    this.pids.postgres = server.pid;
    if (this.postgres) this.postgres.pid = server.pid;
    void server.exited.then((exit) => this.onPostgresExit(server, exit));
    return server;
  }

  private onPostgresExit(server: PostgresServer, exit: ChildExit): void {
    if (this.stopping || server !== this.server) return;
    if (!this.up) {
      this.abort.abort(new StartupError(`postgres exited during start-up (${describeExit(exit)})`));
      return;
    }
    this.options.onUnexpectedExit?.("postgres", exit);
    const restart = this.options.restart;
    if (restart === false) {
      this.say(`postgres exited unexpectedly (${describeExit(exit)}); restarts are off: services that keep state fail until the stack is restarted`);
      this.postgresState = "given-up";
      this.options.onStatusChange?.();
      return;
    }
    this.postgresPolicy ??= new RestartPolicy(restart);
    this.postgresRestart = this.restartPostgres(server, exit, this.postgresPolicy).finally(() => (this.postgresRestart = undefined));
  }

  /**
   * Until it is back, services that keep state fail their calls and report NOT_SERVING (their own store is
   * gone); their pools reconnect by themselves afterwards. Crash recovery of the data is Postgres's own.
   */
  private async restartPostgres(dead: PostgresServer, exit: ChildExit, policy: RestartPolicy): Promise<void> {
    const port = dead.port;
    this.say(`postgres (pid ${dead.pid}) exited unexpectedly: ${describeExit(exit)}; services that keep state fail until it is back`);
    let uptime = performance.now() - this.postgresStartedAt;
    for (;;) {
      const decision = policy.onCrash(uptime, exit);
      if (decision.action === "give-up") {
        this.say(`NOT restarting postgres: ${decision.reason}. Fix the cause and restart the stack.`);
        this.postgresState = "given-up";
        this.options.onStatusChange?.();
        return;
      }
      this.say(`restarting postgres in ${formatDuration(decision.delayMs)} (restart ${this.postgresRestarts + 1})`);
      this.postgresState = "backoff";
      this.options.onStatusChange?.();
      try {
        await sleep(decision.delayMs, undefined, { signal: this.abort.signal });
      } catch {
        return;
      }
      // The dead postmaster's backends outlive it for a moment. A new postmaster on the same data must not
      // run beside them (the launcher clears the stale postmaster.pid, which is what would have told
      // Postgres): wait for its process group to empty, and end what is left of it.
      if (!(await processGroupGone(dead.pid, this.abort.signal))) return;
      this.postgresRestarts += 1;
      this.postgresState = "starting";
      const attempt = performance.now();
      try {
        const server = await this.launchPostgres(port);
        if (this.stopping) return; // stop() waits for us, then stops this.server: the one just started
        this.say(`postgres is back on ${LOOPBACK}:${port} (pid ${server.pid}, restart ${this.postgresRestarts})`);
        this.postgresState = "running";
        this.options.onStatusChange?.();
        return;
      } catch (err) {
        if (this.stopping) return;
        // e.g. the old postmaster's backends still hold its shared memory: try again after the next delay.
        this.say(`postgres did not come back: ${(err as Error).message.split("\n")[0]}`);
        uptime = performance.now() - attempt;
        exit = { code: null, signal: null };
      }
    }
  }
}

/** Starts the stack and resolves once every service is SERVING. */
export async function startStack(options: StackOptions): Promise<LocalStack> {
  return new LocalStack(options).start();
}

/** Everyone who writes to the stack's log, for the width of the name column (and the colours). */
export function logSources(services: readonly ServiceName[] = SERVICE_NAMES, replicas: ReplicaCounts = {}): string[] {
  const ids = planEndpoints({}, replicas)
    .filter((e) => services.includes(e.name))
    .map((e) => e.id);
  return ["launcher", "postgres", ...((replicas.query ?? 1) > 1 ? ["redis"] : []), ...ids, "gateway"];
}

function entryPoint(name: ServiceName): string {
  return path.join("services", name, "main.ts");
}

function lastLinesOf(child: KeptProcess): string {
  const lines = child.current.recentLines();
  return lines.length === 0 ? `\n  (${child.name} wrote nothing)` : `\n  last lines of ${child.name}:\n    ${lines.join("\n    ")}`;
}

/**
 * Waits (bounded, 10 s) for every process of group `pgid` to end, then SIGKILLs what is left and waits
 * again (bounded too: a zombie nobody reaps would count as alive forever). Resolves false only when
 * `signal` aborts first: after the bounds, the caller goes on and Postgres has the last word.
 */
async function processGroupGone(pgid: number, signal: AbortSignal): Promise<boolean> {
  const alive = () => {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === "EPERM";
    }
  };
  for (const [bound, then] of [[10_000, "SIGKILL"], [10_000, undefined]] as const) {
    const deadline = Date.now() + bound;
    while (alive() && Date.now() < deadline) {
      try {
        await sleep(50, undefined, { signal });
      } catch {
        return false;
      }
    }
    if (!alive()) return true;
    if (then) {
      try {
        process.kill(-pgid, then);
      } catch {
        // gone in between
      }
    }
  }
  return !signal.aborted;
}

/** Polls `url` until it answers 2xx (a process's liveness endpoint); rejects once `signal` aborts. */
async function waitUntilAnswering(url: string, signal: AbortSignal): Promise<void> {
  for (;;) {
    if (signal.aborted) throw signal.reason;
    const ok = await fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(1_000)]) }).then((r) => r.ok, () => false);
    if (ok) return;
    await sleep(100, undefined, { signal });
  }
}

function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = "***";
  return u.toString();
}
