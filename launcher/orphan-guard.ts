/**
 * A watchman that outlives us by design: a tiny `sh` reading a list of processes from a pipe we hold.
 * When our process dies — even by SIGKILL or an OOM kill, where no JavaScript runs — the kernel closes
 * the pipe, the shell reads end-of-file and signals whatever is still on its list.
 *
 * Why not rely on the children alone: services exit when their stdin closes (RAG_EXIT_WITH_STDIN), but
 * the Postgres postmaster has no such switch, and a service that fails to honour the contract would
 * otherwise linger too. Costs one ~1 MB process; POSIX only, like the rest of the launcher.
 */
import { spawn, type ChildProcess } from "node:child_process";
import type { Socket } from "node:net";
import { fileURLToPath } from "node:url";

// The script is a file beside this one, so `ps` shows "/bin/sh .../orphan-guard.sh", not a wall of code.
const SCRIPT = fileURLToPath(new URL("./orphan-guard.sh", import.meta.url));

export type GuardSignal = "INT" | "TERM" | "QUIT" | "KILL";

export class OrphanGuard {
  private readonly child: ChildProcess;
  private disarmed = false;
  private gone: Promise<void> = Promise.resolve();

  constructor() {
    // detached: its own session, so a terminal Ctrl-C or hang-up aimed at us does not reach it.
    this.child = spawn("/bin/sh", [SCRIPT], {
      detached: true,
      stdio: ["pipe", "ignore", "ignore"],
    });
    this.child.on("error", () => undefined); // no /bin/sh: we lose the safety net, not the launch
    this.child.stdin?.on("error", () => undefined);
    // Neither the process nor its pipe may keep our event loop alive.
    this.child.unref();
    (this.child.stdin as Socket | null)?.unref();
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Signal `pid` (or process group `-pgid` when `group`) if we die before calling release(). */
  watch(pid: number, signal: GuardSignal, group = false): void {
    this.send(`add ${signal} ${group ? -pid : pid}`);
  }

  /** The process ended on its own: forget it, so a later reuse of its pid is never signalled. */
  release(pid: number, group = false): void {
    this.send(`del - ${group ? -pid : pid}`);
  }

  /** Orderly shutdown done: end the guard without it signalling anything. Resolves once it is gone. */
  disarm(): Promise<void> {
    if (!this.disarmed) {
      this.disarmed = true;
      if (this.child.exitCode === null && this.child.signalCode === null && this.child.pid) {
        this.gone = new Promise((resolve) => this.child.once("exit", () => resolve()));
        this.child.ref(); // whoever awaits this must not see the event loop run dry first
        this.child.kill("SIGKILL");
      }
    }
    return this.gone;
  }

  private send(line: string): void {
    if (!this.disarmed) this.child.stdin?.write(`${line}\n`);
  }
}
