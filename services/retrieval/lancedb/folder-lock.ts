import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { link, mkdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { UnavailableError } from "#mesh/errors.js";

/**
 * A lock per key shared by every process that opens the same index folder (retrieval replicas on one
 * machine, RAG_REPLICAS=retrieval=2). LanceDB's own commits are atomic, but two processes running
 * merge-insert on one table at once both insert a key neither saw (measured: 2 x 60 upserts of the same
 * 300 ids left 366 and 421 rows instead of 301), and the collection version in catalog.ts is a
 * read-modify-write. Holding this lock around a write and its catalog record makes both serial again.
 *
 * The lock is a file holding "host pid token", created atomically (tryCreate); the holder removes it. A holder that
 * died (SIGKILL mid-write) is detected by its pid on this host and its file is taken over. Node has no
 * flock(2); a folder shared across machines (NFS) needs a server engine instead: Qdrant (QDRANT_URL).
 */
export class FolderLock {
  private readonly host = hostname();

  constructor(
    private readonly dir: string,
    private readonly timeoutMs = 30_000,
  ) {}

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const file = path.join(this.dir, `${key}.lock`);
    const mine = `${this.host} ${process.pid} ${randomUUID()}`;
    await this.acquire(file, mine);
    try {
      return await work();
    } finally {
      // Only our own file: after a takeover (we were presumed dead) the file is someone else's.
      if ((await readFile(file, "utf8").catch(() => "")) === mine) await unlink(file).catch(() => undefined);
    }
  }

  private async acquire(file: string, mine: string): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const deadline = Date.now() + this.timeoutMs;
    let wait = 2;
    for (;;) {
      if (await this.tryCreate(file, mine)) return;
      const holder = await readFile(file, "utf8").catch(() => "");
      // Empty: removed by its holder just now; try again at once.
      if (!holder) continue;
      if (this.isDead(holder)) await this.takeOver(file, holder);
      else if (Date.now() > deadline) {
        throw new UnavailableError(`the index folder is locked by another process (${holder.split(" ").slice(0, 2).join(" pid ")}) for more than ${this.timeoutMs} ms`);
      } else {
        await sleep(wait);
        wait = Math.min(wait * 2, 50);
      }
    }
  }

  /**
   * The lock file appears with its contents or not at all: written under a private name, then linked to
   * the lock's name (link(2) fails with EEXIST rather than replace), so no one ever reads an empty lock.
   */
  private async tryCreate(file: string, mine: string): Promise<boolean> {
    const tmp = `${file}.${randomUUID()}.tmp`;
    await writeFile(tmp, mine);
    try {
      await link(tmp, file);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      return false;
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }

  private isDead(holder: string): boolean {
    const [host, pid] = holder.split(" ");
    if (host !== this.host || !/^\d+$/.test(pid ?? "")) return false; // cannot tell from here: wait it out
    try {
      process.kill(Number(pid), 0);
      return false;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === "ESRCH";
    }
  }

  /**
   * Moves the dead holder's file aside, atomically, then checks it moved the file it judged: if another
   * waiter took over first and already holds a fresh lock, that file is linked back (link fails rather
   * than overwrite if a third process got in meanwhile; that window is microseconds after a crash).
   */
  private async takeOver(file: string, dead: string): Promise<void> {
    const aside = `${file}.${randomUUID()}.stale`;
    try {
      await rename(file, aside);
    } catch {
      return; // gone already: someone else took over
    }
    const moved = await readFile(aside, "utf8").catch(() => "");
    if (moved !== dead) await link(aside, file).catch(() => undefined);
    await unlink(aside).catch(() => undefined);
  }
}
