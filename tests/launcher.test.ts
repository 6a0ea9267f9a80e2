/**
 * The one-command local stack, exercised as a user runs it: the real CLI in a subprocess, the real
 * services, a real embedded Postgres. Then Ctrl-C, and proof that nothing is left behind; a second start
 * on the same data; a service killed with SIGKILL that comes back by itself while asks succeed again; a
 * Ctrl-C during a restart's backoff; a hard kill; and the Postgres data-directory checks.
 *
 *   node --import tsx --test tests/launcher.test.ts
 */
import { TEST_INTERNAL_SECRET } from "#testing/auth.js";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { createInterface } from "node:readline";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { status, type ServiceError } from "@grpc/grpc-js";
import { IngestionServiceClient, JobState, StartJobRequest, WatchJobRequest, type Job } from "#gen/rag/v1/ingestion.js";
import { AskRequest, QueryServiceClient } from "#gen/rag/v1/query.js";
import { CATALOGUE, SERVICE_NAMES, type ServiceName } from "#mesh/catalogue.js";
import type { PromiseClient } from "#mesh/client.js";
import { HealthProbe } from "#launcher/health.js";
import { findFreePort, findFreePortRange, isPortFree } from "#launcher/ports.js";
import { startPostgres } from "#launcher/postgres.js";
import { descendants, isAlive, processInfo, type ProcessInfo } from "#launcher/proc.js";
import { runtime } from "#testing/runtime.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const READY_TIMEOUT_MS = 150_000; // cold machines compile 8 services with tsx at once
const ADMIN_KEY = "rag_5e1f4ea1ab1e_launcherTestBootstrapSecret_0001";
const EXIT_TIMEOUT_MS = 60_000;

let dataDir: string;
let scratch: string;
let env: NodeJS.ProcessEnv;
let ports: number[];
let pgPort: number;
let grpcBase: number;
let adminBase: number;
let gatewayPort: number;
const running = new Set<Launcher>();

before(async () => {
  // mkdtemp makes 0700 folders; the postgres OS user must pass through to reach its data.
  scratch = await mkdtemp("/tmp/rag-launcher-test-");
  await chmod(scratch, 0o755);
  dataDir = path.join(scratch, "data");

  pgPort = await findFreePort();
  grpcBase = await findFreePortRange(SERVICE_NAMES.length, new Set([pgPort]));
  const grpcPorts = SERVICE_NAMES.map((_, i) => grpcBase + i);
  adminBase = await findFreePortRange(SERVICE_NAMES.length, new Set([pgPort, ...grpcPorts]));
  const adminPorts = SERVICE_NAMES.map((_, i) => adminBase + i);
  // Not the default 8080: another stack (or another test) may hold it.
  gatewayPort = await findFreePortRange(1, new Set([pgPort, ...grpcPorts, ...adminPorts]));
  ports = [pgPort, ...grpcPorts, ...adminPorts, gatewayPort];

  env = { ...process.env };
  // Our own test-runner plumbing and any developer settings must not leak into the stack under test.
  for (const name of Object.keys(env)) if (name.startsWith("NODE_TEST") || name.startsWith("RAG_")) delete env[name];
  delete env.DATABASE_URL;
  Object.assign(env, {
    RAG_DATA_DIR: dataDir,
    RAG_PG_PORT: String(pgPort),
    RAG_GRPC_PORT_BASE: String(grpcBase),
    RAG_ADMIN_PORT_BASE: String(adminBase),
    RAG_GATEWAY_PORT: String(gatewayPort),
    // The stack's service-token secret, shared with this process: its gRPC clients act for a tenant.
    RAG_INTERNAL_SECRET: TEST_INTERNAL_SECRET,
    IDENTITY_BOOTSTRAP_ADMIN_KEY: ADMIN_KEY,
    NO_COLOR: "1",
  });
});

after(async () => {
  // A failed test may leave a launcher up: SIGKILL it; its orphan guard takes the rest down.
  for (const launcher of running) launcher.child.kill("SIGKILL");
  await rm(scratch, { recursive: true, force: true });
});

test("cold start: every service SERVING on its own port; Ctrl-C stops everything, exit 0", { timeout: 240_000 }, async (t) => {
  const launcher = new Launcher(env);
  const ready = await launcher.waitUntilReady();
  t.diagnostic(ready.line);

  assert.match(launcher.output(), /initialising a new cluster/, "a new data directory is initialised");
  const tree = launcher.processTree(ready);
  await assertAllServing();

  // Leave a mark in a service database, to be found by the next start.
  await withClient(ready.databaseUrl("rag_documents"), async (client) => {
    await client.query("CREATE TABLE launcher_test_marker (value int)");
    await client.query("INSERT INTO launcher_test_marker VALUES (42)");
  });

  await launcher.interruptAndExpectCleanExit();
  await assertNothingLeft(tree);
});

test("warm start on the same data: no initdb, data found again", { timeout: 240_000 }, async (t) => {
  const launcher = new Launcher(env);
  const ready = await launcher.waitUntilReady();
  t.diagnostic(ready.line);

  assert.doesNotMatch(launcher.output(), /initialising a new cluster|initdb/);
  assert.match(launcher.output(), /postgres ready on .*existing data/);
  const tree = launcher.processTree(ready);
  await assertAllServing();
  await withClient(ready.databaseUrl("rag_documents"), async (client) => {
    const { rows } = await client.query("SELECT value FROM launcher_test_marker");
    assert.deepEqual(rows, [{ value: 42 }]);
  });

  await launcher.interruptAndExpectCleanExit();
  await assertNothingLeft(tree);
});

test("a service killed with SIGKILL is restarted by the launcher, and asks succeed again without anyone restarting the stack", { timeout: 300_000 }, async (t) => {
  const launcher = new Launcher(env);
  const ready = await launcher.waitUntilReady();
  const tree = launcher.processTree(ready);
  const tenant = "default"; // the bootstrap tenant, so the gateway's admin key asks in it too
  const ingestion = runtime.connect(IngestionServiceClient, "ingestion", { target: address("ingestion"), metadata: { "x-tenant-id": tenant }, deadlineMs: 120_000 });
  const query = runtime.connect(QueryServiceClient, "query", { target: address("query"), metadata: { "x-tenant-id": tenant }, deadlineMs: 30_000 });
  try {
    const job = await ingestOne(ingestion, "harbour.md", "# Harbour rules\n\nThe harbour gate closes at 23:00 every night. Boats must moor at pier seven.\n");
    assert.equal(job.state, JobState.JOB_STATE_SUCCEEDED, `${job.error} ${JSON.stringify(job.itemErrors)}`);
    const ask = (question: string) => query.ask(AskRequest.fromPartial({ question, options: { bypassCache: true } }));
    assert.match((await ask("When does the harbour gate close?")).answer, /23:00/);

    // As an OOM kill or `kill -9` would end it, in the middle of normal operation.
    const embeddings = ready.pids.get("embeddings")!;
    process.kill(embeddings, "SIGKILL");
    const crashed = await launcher.waitForLine(new RegExp(`embeddings \\(pid ${embeddings}\\) exited unexpectedly: killed by SIGKILL`), 30_000);
    t.diagnostic(crashed);
    // A dependency being down is not query's own failure: it keeps reporting SERVING (and answers UNAVAILABLE).
    assert.equal(await healthOf("query"), "SERVING");

    await launcher.waitForLine(/restarting embeddings in \S+ \S+ \(restart 1\)/, 30_000);
    const back = await launcher.waitForLine(/embeddings is SERVING again \(pid \d+, restart 1\)/, READY_TIMEOUT_MS);
    t.diagnostic(back);
    const newPid = Number(/pid (\d+)/.exec(back)![1]);
    assert.notEqual(newPid, embeddings);
    // The table is printed again, with the restart counted and the new pid.
    await launcher.waitForLine(new RegExp(`^embeddings\\s+127\\.0\\.0\\.1:${grpcBase + SERVICE_NAMES.indexOf("embeddings")}\\s+\\S+\\s+SERVING\\s+1\\s+${newPid}$`), 30_000);

    // query finds the new process by itself. Its channel may still be between two reconnection attempts
    // (at most about a second apart): a caller retrying on UNAVAILABLE, as the status tells it to, gets through.
    const failures: string[] = [];
    const answer = await untilAnswered(() => ask("Where must boats moor?"), failures, 60_000);
    t.diagnostic(`answered after ${failures.length} UNAVAILABLE answer(s): ${failures.slice(0, 3).join("; ")}`);
    assert.match(answer.answer, /pier seven/);

    // The whole REST path too: gateway -> query -> the restarted embeddings.
    const rest = await fetch(`http://127.0.0.1:${gatewayPort}/v1/query:ask`, {
      method: "POST",
      headers: { "x-api-key": ADMIN_KEY, "content-type": "application/json" },
      body: JSON.stringify({ question: "When does the harbour gate close at night?", options: { bypassCache: true } }),
    });
    const body = await rest.text();
    assert.equal(rest.status, 200, body);
    assert.match(body, /23:00/);
  } finally {
    ingestion.close();
    query.close();
  }
  const restarted = descendants(launcher.child.pid!); // the new embeddings process is not in `tree`
  await launcher.interruptAndExpectCleanExit();
  await assertNothingLeft([...tree, ...restarted]);
});

test("embedded Postgres killed with SIGKILL is restarted on its data; services that keep state recover by themselves", { timeout: 300_000 }, async (t) => {
  const launcher = new Launcher(env);
  const ready = await launcher.waitUntilReady();
  const tree = launcher.processTree(ready);
  const listDocuments = () =>
    fetch(`http://127.0.0.1:${gatewayPort}/v1/documents`, { headers: { "x-api-key": ADMIN_KEY }, signal: AbortSignal.timeout(30_000) });
  assert.equal((await listDocuments()).status, 200);

  const postmaster = ready.pids.get("postgres")!;
  process.kill(postmaster, "SIGKILL");
  await launcher.waitForLine(new RegExp(`postgres \\(pid ${postmaster}\\) exited unexpectedly: killed by SIGKILL`), 30_000);
  const back = await launcher.waitForLine(/postgres is back on .* \(pid \d+, restart 1\)/, READY_TIMEOUT_MS);
  t.diagnostic(back);

  // Identity (the key) and documents (the list) read Postgres: their pools reconnect on their own.
  const deadline = Date.now() + 120_000;
  let last = "";
  for (;;) {
    const res = await listDocuments().catch((err: Error) => err);
    if (!(res instanceof Error) && res.status === 200) break;
    last = res instanceof Error ? res.message : `${res.status} ${await res.text()}`;
    if (Date.now() > deadline) assert.fail(`the REST API did not recover after Postgres came back: ${last}\n${launcher.output().split("\n").slice(-40).join("\n")}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  await until(async () => (await Promise.all(SERVICE_NAMES.map((n) => healthOf(n).catch(() => "no answer")))).every((h) => h === "SERVING"), 120_000, () => "not every service is SERVING again");

  for (const line of launcher.output().split("\n")) if (/launcher .*(exited unexpectedly|restart|NOT restarting)/.test(line)) t.diagnostic(line);
  const now = descendants(launcher.child.pid!); // the new postmaster and anything restarted
  await launcher.interruptAndExpectCleanExit();
  await assertNothingLeft([...tree, ...now]);
});

test("Ctrl-C while a crashed service waits for its restart stops everything at once, leaving nothing behind", { timeout: 240_000 }, async () => {
  // An hour's backoff: were the wait not cancelled by Ctrl-C, the launcher would not exit within the bound below.
  const launcher = new Launcher({ ...env, RAG_RESTART_DELAY_MS: "3600000", RAG_RESTART_MAX_DELAY_MS: "3600000" });
  const ready = await launcher.waitUntilReady();
  const tree = launcher.processTree(ready);
  process.kill(ready.pids.get("generation")!, "SIGKILL");
  await launcher.waitForLine(/restarting generation in 60 min \(restart 1\)/, 30_000);
  await launcher.interruptAndExpectCleanExit();
  assert.doesNotMatch(launcher.output(), /restarted generation/);
  await assertNothingLeft(tree);
});

test("a launcher killed with SIGKILL leaves no process behind", { timeout: 240_000 }, async () => {
  const launcher = new Launcher(env);
  const ready = await launcher.waitUntilReady();
  const tree = launcher.processTree(ready);

  launcher.child.kill("SIGKILL");
  await launcher.exited;
  // The services see their stdin close, the orphan guard stops Postgres. These are not our children,
  // so there is no exit event to await: watch /proc, bounded.
  await until(() => tree.every((p) => !stillRunning(p)), 30_000, () => `still running: ${describe(tree.filter(stillRunning))}`);
  await assertNothingLeft(tree);
});

test("postgres: a data directory the postgres user cannot reach fails up front, naming the folder", async () => {
  const locked = path.join(scratch, "locked");
  await mkdir(locked, { mode: 0o700 });
  await chmod(locked, 0o700);
  await assert.rejects(
    startPostgres({ dataDir: path.join(locked, "pg"), port: await findFreePort() }),
    (err: Error) => err.message.includes(`cannot enter "${locked}"`) && err.message.includes("chmod o+x"),
  );
});

test("postgres: a stale postmaster.pid from a crashed run is cleared, and the data is found again", async () => {
  const pgData = path.join(scratch, "stale", "pg");
  const port = await findFreePort();
  const first = await startPostgres({ dataDir: pgData, port });
  assert.equal(first.initialised, true);
  await first.stop();

  // A pid that certainly belonged to a process that has ended.
  const gone = spawn(process.execPath, ["-e", ""]);
  await new Promise((resolve) => gone.once("exit", resolve));
  await writeFile(path.join(pgData, "postmaster.pid"), `${gone.pid}\n${pgData}\n0\n${port}\n`);

  const lines: string[] = [];
  const second = await startPostgres({ dataDir: pgData, port, onLog: (line) => lines.push(line) });
  try {
    assert.equal(second.initialised, false);
    assert.ok(lines.some((l) => l.includes("removed stale")), lines.join("\n"));
    await withClient(second.url(), (client) => client.query("SELECT 1"));
  } finally {
    await second.stop();
  }
  await assert.rejects(stat(path.join(pgData, "postmaster.pid")), { code: "ENOENT" });
});

// ---------------------------------------------------------------------------------------------------

interface Ready {
  /** The "stack ready" line itself (it says how long start-up took). */
  line: string;
  pids: Map<string, number>;
  databaseUrl(name: string): string;
}

/** The CLI as a subprocess, its stdout read line by line as it comes. */
class Launcher {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly lines: string[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(environment: NodeJS.ProcessEnv) {
    this.child = spawn(process.execPath, ["--import", "tsx", "launcher/main.ts"], {
      cwd: ROOT,
      env: environment,
      stdio: ["ignore", "pipe", "pipe"],
    });
    running.add(this);
    const collect = (line: string) => {
      this.lines.push(line);
      for (const wake of this.waiters) wake();
    };
    createInterface({ input: this.child.stdout!, crlfDelay: Infinity }).on("line", collect);
    createInterface({ input: this.child.stderr!, crlfDelay: Infinity }).on("line", collect);
    this.exited = new Promise((resolve) =>
      this.child.once("exit", (code, signal) => {
        running.delete(this);
        for (const wake of this.waiters) wake();
        resolve({ code, signal });
      }),
    );
  }

  output(): string {
    return this.lines.join("\n");
  }

  /** Resolves with the first line matching `pattern`; fails if the launcher exits or time runs out. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`no line matching ${pattern} within ${timeoutMs} ms:\n${this.tail()}`)), timeoutMs);
      const check = () => {
        const hit = this.lines.find((l) => pattern.test(l));
        if (hit !== undefined) finish(undefined, hit);
        else if (this.child.exitCode !== null || this.child.signalCode !== null) {
          finish(new Error(`launcher exited (${this.child.exitCode ?? this.child.signalCode}) before ${pattern}:\n${this.tail()}`));
        }
      };
      const finish = (err?: Error, line?: string) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        if (err) reject(err);
        else resolve(line!);
      };
      this.waiters.add(check);
      check();
    });
  }

  async waitUntilReady(): Promise<Ready> {
    const line = await this.waitForLine(/stack ready/, READY_TIMEOUT_MS);
    const pids = new Map<string, number>();
    for (const line of this.lines) {
      const started = /started (\w+) \(pid (\d+)\)/.exec(line);
      if (started) pids.set(started[1]!, Number(started[2]));
      const postgres = /postgres ready on .*\(pid (\d+)/.exec(line);
      if (postgres) pids.set("postgres", Number(postgres[1]));
    }
    const server = /postgres (postgres:\/\/\S+) databases:/.exec(this.output());
    assert.ok(server, "the launcher prints the Postgres URL");
    return { line, pids, databaseUrl: (name) => new URL(name, server[1]).toString() };
  }

  /**
   * Every process below the launcher right now: the eight services, the postmaster (and its backends),
   * the orphan guards. Each is remembered with its start time, so a reused pid is never mistaken for it.
   */
  processTree(ready: Ready): ProcessInfo[] {
    const tree = descendants(this.child.pid!);
    for (const name of [...SERVICE_NAMES, "postgres"]) {
      const pid = ready.pids.get(name);
      assert.ok(pid, `the launcher reports the pid of ${name}`);
      assert.ok(
        tree.some((p) => p.pid === pid),
        `${name} (pid ${pid}) runs under the launcher`,
      );
    }
    return tree;
  }

  async interruptAndExpectCleanExit(): Promise<void> {
    this.child.kill("SIGINT");
    const exit = await within(this.exited, EXIT_TIMEOUT_MS, "the launcher to exit after SIGINT");
    assert.deepEqual(exit, { code: 0, signal: null }, this.tail());
  }

  private tail(): string {
    return this.lines.slice(-40).join("\n");
  }
}

function address(name: ServiceName): string {
  return `127.0.0.1:${grpcBase + SERVICE_NAMES.indexOf(name)}`;
}

async function healthOf(name: ServiceName): Promise<string> {
  const probe = new HealthProbe(address(name));
  try {
    return await probe.check(CATALOGUE[name].grpcService, 5_000);
  } finally {
    probe.close();
  }
}

/** One file as an ingestion job, followed with WatchJob until it ends. */
async function ingestOne(client: PromiseClient<typeof IngestionServiceClient.service>, filename: string, text: string): Promise<Job> {
  const { job } = await client.startJob(
    StartJobRequest.fromPartial({ collection: "", source: { kind: { $case: "files", value: { files: [{ filename, content: Buffer.from(text) }] } } } }),
  );
  assert.ok(job);
  let last = job;
  const ended = new Set([JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED]);
  if (ended.has(last.state)) return last;
  for await (const event of client.watchJob(WatchJobRequest.fromPartial({ jobId: job.jobId }))) {
    if (!event.job) continue;
    last = event.job;
    if (ended.has(last.state)) break;
  }
  return last;
}

/** Calls `ask` until it answers; UNAVAILABLE (a peer not reached yet) is retried, anything else fails at once. */
async function untilAnswered<T>(ask: () => Promise<T>, failures: string[], timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await ask();
    } catch (err) {
      const e = err as ServiceError;
      if (e.code !== status.UNAVAILABLE) throw err;
      failures.push(e.details ?? e.message);
      if (Date.now() > deadline) assert.fail(`still UNAVAILABLE after ${timeoutMs} ms: ${failures.slice(-3).join("; ")}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

async function assertAllServing(): Promise<void> {
  await Promise.all(
    SERVICE_NAMES.map(async (name, i) => {
      const probe = new HealthProbe(`127.0.0.1:${grpcBase + i}`);
      try {
        assert.equal(await probe.check(CATALOGUE[name].grpcService, 5_000), "SERVING", name);
      } finally {
        probe.close();
      }
    }),
  );
}

async function assertNothingLeft(tree: ProcessInfo[]): Promise<void> {
  const left = tree.filter(stillRunning);
  assert.deepEqual(left, [], `processes left behind: ${describe(left)}`);
  assert.equal(await readFile(path.join(dataDir, "postgres", "postmaster.pid"), "utf8").catch(() => "gone"), "gone", "Postgres shut down cleanly");
  const busy = (await Promise.all(ports.map(async (p) => ((await isPortFree(p)) ? null : p)))).filter((p) => p !== null);
  assert.deepEqual(busy, [], "every port is free again");
}

/** Same pid, same start time, not a zombie: the very process we saw, still there. */
function stillRunning(p: ProcessInfo): boolean {
  const now = processInfo(p.pid);
  return now !== undefined && now.startTime === p.startTime && isAlive(p.pid);
}

function describe(list: ProcessInfo[]): string {
  return list.map((p) => `${p.pid} ${p.argv.join(" ").slice(0, 120)}`).join("; ");
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMs: number, explain: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(explain());
    await new Promise((r) => setTimeout(r, 100));
  }
}
