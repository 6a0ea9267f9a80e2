/**
 * One child process of the stack: spawned in its own process group, its output delivered line by line,
 * its last lines kept for the error report, and a bounded stop (SIGTERM, then SIGKILL).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { forEachLine } from "./log-prefix.js";
import type { OrphanGuard } from "./orphan-guard.js";

export interface ChildSpec {
  name: string;
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const KEEP_LINES = 30;
// After the process exits, how long we wait for its output pipes to drain (a grandchild may hold them).
const DRAIN_MS = 1_000;

export class SupervisedProcess {
  readonly name: string;
  /** Resolves once the process has exited and its output has been read. */
  readonly exited: Promise<ChildExit>;
  private readonly child: ChildProcess;
  private readonly recent: string[] = [];
  private exit: ChildExit | undefined;

  constructor(spec: ChildSpec, onLine: (line: string) => void, guard?: OrphanGuard) {
    this.name = spec.name;
    this.child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: spec.env,
      // stdin stays an open pipe that we never write: it closes only when we die, which is the
      // child's cue to exit (RAG_EXIT_WITH_STDIN) even if we were killed without a chance to clean up.
      stdio: ["pipe", "pipe", "pipe"],
      // Own process group: a terminal Ctrl-C reaches only the launcher, which then stops the children
      // in order; and a group signal reaches anything the child itself spawned.
      detached: true,
    });
    const keep = (line: string) => {
      this.recent.push(line);
      if (this.recent.length > KEEP_LINES) this.recent.shift();
      onLine(line);
    };
    forEachLine(this.child.stdout!, keep);
    forEachLine(this.child.stderr!, keep);
    this.child.stdin!.on("error", () => undefined); // EPIPE once the child is gone; nothing to do

    const pid = this.child.pid;
    if (pid && guard) guard.watch(pid, "TERM", true);
    this.exited = new Promise<ChildExit>((resolve) => {
      let drainTimer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(drainTimer);
        if (pid && guard) guard.release(pid, true);
        resolve(this.exit!);
      };
      this.child.once("exit", (code, signal) => {
        this.exit = { code, signal };
        drainTimer = setTimeout(done, DRAIN_MS);
      });
      this.child.once("close", (code: number | null, signal: NodeJS.Signals | null) => {
        this.exit ??= { code, signal };
        done();
      });
      this.child.once("error", (err) => {
        keep(`failed to start: ${err.message}`);
        this.exit = { code: null, signal: null };
        done();
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exit === undefined && this.child.pid !== undefined;
  }

  /** The last lines it wrote, oldest first. */
  recentLines(): string[] {
    return [...this.recent];
  }

  signal(signal: NodeJS.Signals): void {
    if (!this.running) return;
    try {
      process.kill(-this.child.pid!, signal); // the whole group
    } catch {
      this.child.kill(signal);
    }
  }

  /** SIGTERM, and SIGKILL if it is still there after `timeoutMs`. */
  async stop(timeoutMs: number): Promise<ChildExit> {
    this.signal("SIGTERM");
    const timer = setTimeout(() => this.signal("SIGKILL"), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

export function describeExit(exit: ChildExit): string {
  return exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
}
