/**
 * A Postgres server for tests.
 *
 *   const pg = await startTestPostgres();
 *   const url = await pg.createDatabase("documents");   // a fresh, empty database
 *   ...
 *   await pg.stop();                                    // drops what it created / removes the server
 *
 * With DATABASE_URL set (CI with a Postgres service, or a developer's own server) it uses that server and
 * creates uniquely named databases on it, dropped again at stop(). Otherwise it starts an embedded
 * Postgres on a free port in a fresh folder under /tmp, deleted at stop().
 */
import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import path from "node:path";
import { databaseUrl, dropDatabase, ensureDatabase } from "#launcher/databases.js";
import { findFreePort } from "#launcher/ports.js";
import { startPostgres, type PostgresServer } from "#launcher/postgres.js";
import { isAlive } from "#launcher/proc.js";

const TMP = "/tmp";
const PREFIX = "rag-test-pg-";
const LEFTOVER_AGE_MS = 10 * 60_000;

export interface TestPostgres {
  /** URL of a database created with createDatabase(name), or of the database literally called `name`. */
  url(name: string): string;
  /** Creates an empty database for `name` (unique on a shared server) and returns its URL. */
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startTestPostgres(env: NodeJS.ProcessEnv = process.env): Promise<TestPostgres> {
  const external = env.DATABASE_URL?.trim();
  return external ? onExternalServer(external) : onEmbeddedServer();
}

async function onExternalServer(serverUrl: string): Promise<TestPostgres> {
  // Several test files (and several CI jobs) may share the server: prefix every name with this run.
  const run = `t${process.pid}_${randomBytes(3).toString("hex")}`;
  const created = new Map<string, string>();
  return {
    url: (name) => databaseUrl(serverUrl, created.get(name) ?? name),
    async createDatabase(name) {
      const actual = `${run}_${safeName(name)}`.slice(0, 63);
      created.set(name, actual);
      await dropDatabase(serverUrl, actual); // a leftover of a crashed run with the same pid and luck
      return ensureDatabase(serverUrl, actual);
    },
    async stop() {
      await Promise.all([...created.values()].map((db) => dropDatabase(serverUrl, db)));
      created.clear();
    },
  };
}

async function onEmbeddedServer(): Promise<TestPostgres> {
  await sweepLeftovers();
  // Not os.tmpdir(): TMPDIR may point into a private folder the postgres OS user cannot enter.
  // mkdtemp makes the folder 0700; the postgres user must pass through it to reach its data.
  const dir = await mkdtemp(path.join(TMP, PREFIX));
  await chmod(dir, 0o755);
  let server: PostgresServer | undefined;
  try {
    server = await startOnFreePort(path.join(dir, "data"));
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const running = server;
  return {
    url: (name) => running.url(name),
    createDatabase: (name) => running.ensureDatabase(safeName(name)),
    async stop() {
      await running.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// The free port may be taken between our check and the postmaster's bind (parallel test files): retry.
async function startOnFreePort(dataDir: string): Promise<PostgresServer> {
  for (let attempt = 1; ; attempt++) {
    const port = await findFreePort();
    try {
      return await startPostgres({ dataDir, port });
    } catch (err) {
      const clash = /could not (bind|create listen socket)|Address already in use/i.test(String((err as Error).message));
      if (!clash || attempt >= 3) throw err;
    }
  }
}

/**
 * A test process that dies without calling stop() still has its Postgres shut down (the orphan guard),
 * but its folder stays. Remove such folders: old enough that no start can be in progress, and with no
 * live postmaster. Best effort; never fails a test.
 */
async function sweepLeftovers(): Promise<void> {
  const names = await readdir(TMP).catch(() => [] as string[]);
  await Promise.all(
    names
      .filter((name) => name.startsWith(PREFIX))
      .map(async (name) => {
        const dir = path.join(TMP, name);
        try {
          if (Date.now() - (await stat(dir)).mtimeMs < LEFTOVER_AGE_MS) return;
          const pidFile = await readFile(path.join(dir, "data", "postmaster.pid"), "utf8").catch(() => undefined);
          if (pidFile !== undefined && isAlive(Number(pidFile.split("\n")[0]))) return;
          await rm(dir, { recursive: true, force: true });
        } catch {
          /* someone else is sweeping it, or it is not ours to judge */
        }
      }),
  );
}

function safeName(name: string): string {
  const cleaned = name.toLowerCase().replace(/[^a-z0-9_]+/g, "_").replace(/^([0-9])/, "_$1");
  return cleaned || "db";
}
