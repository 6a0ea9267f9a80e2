/**
 * One child process of the stack: spawned in its own process group, its output delivered line by line,
 * its last lines kept for the error report, and a bounded stop (SIGTERM, then SIGKILL). KeptProcess adds
 * supervision: a process that ends on its own is started again, with backoff.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { forEachLine } from "./log-prefix.js";
import type { OrphanGuard } from "./orphan-guard.js";
import { formatDuration, RestartPolicy } from "./restart-policy.js";

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

/** Where a kept process stands, for the status table. */
export type KeptState = "starting" | "running" | "backoff" | "given-up" | "stopped";

export interface KeptProcessOptions {
  spec: ChildSpec;
  onLine: (line: string) => void;
  guard?: OrphanGuard;
  /** The launcher's own voice in the log. */
  say: (text: string) => void;
  policy?: RestartPolicy;
  /** Resolves once a restarted process is ready for calls; rejects once `signal` aborts. */
  ready?: (signal: AbortSignal) => Promise<void>;
  /** What ready means, for the log: "SERVING", "up". */
  readyWord?: string;
  /** Bound on `ready` after a restart. */
  readyTimeoutMs?: number;
  /** Every start, the first and each restart (the pid changes). */
  onStart?: (process: SupervisedProcess) => void;
  /**
   * The process ended and nobody asked it to. Return false when no restart should follow (the stack is
   * still starting, where one dead service fails the whole start instead).
   */
  onExit?: (exit: ChildExit, process: SupervisedProcess) => boolean;
  /** The state or the restart count changed. */
  onChange?: () => void;
  /** Monotonic milliseconds (tests). */
  now?: () => number;
}

const CRASH_REPORT_LINES = 10;

/**
 * A process kept alive: the same command started again, after a backoff (RestartPolicy), whenever it ends
 * without having been asked to; the reason is logged with its last output lines. Same command and
 * environment means the same ports, so every client finds it where it was. stop() and kill() end any
 * backoff wait at once, so a Ctrl-C never waits for a pending restart.
 */
export class KeptProcess {
  readonly name: string;
  private readonly o: KeptProcessOptions;
  private readonly policy: RestartPolicy;
  private readonly now: () => number;
  private readonly stopped = new AbortController();
  private proc!: SupervisedProcess;
  private startedAt = 0;
  private restartCount = 0;
  private state: KeptState = "starting";

  constructor(options: KeptProcessOptions) {
    this.o = options;
    this.name = options.spec.name;
    this.policy = options.policy ?? new RestartPolicy();
    this.now = options.now ?? (() => performance.now());
    this.launch();
  }

  /** The process running now (or the last one, once it has ended). */
  get current(): SupervisedProcess {
    return this.proc;
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  get restarts(): number {
    return this.restartCount;
  }

  get status(): KeptState {
    return this.state;
  }

  /** The first start is done (ready): from here on the state reads "running". */
  markRunning(): void {
    if (this.state === "starting" && this.proc.running) this.setState("running");
  }

  /** SIGTERM, then SIGKILL after `timeoutMs`; a pending restart is cancelled. */
  async stop(timeoutMs: number): Promise<{ exit: ChildExit; wasRunning: boolean }> {
    this.stopped.abort();
    const wasRunning = this.proc.running;
    const exit = await this.proc.stop(timeoutMs);
    this.setState("stopped");
    return { exit, wasRunning };
  }

  /** SIGKILL now; a pending restart is cancelled. */
  async kill(): Promise<void> {
    this.stopped.abort();
    this.proc.signal("SIGKILL");
    await this.proc.exited;
    this.setState("stopped");
  }

  private setState(state: KeptState): void {
    if (this.state === state) return;
    this.state = state;
    this.o.onChange?.();
  }

  private launch(): void {
    const proc = new SupervisedProcess(this.o.spec, this.o.onLine, this.o.guard);
    this.proc = proc;
    this.startedAt = this.now();
    void proc.exited.then((exit) => this.onExited(proc, exit));
    this.o.onStart?.(proc);
  }

  private async onExited(proc: SupervisedProcess, exit: ChildExit): Promise<void> {
    if (proc !== this.proc || this.stopped.signal.aborted) return;
    if (this.o.onExit && !this.o.onExit(exit, proc)) return;
    const uptime = this.now() - this.startedAt;
    const decision = this.policy.onCrash(uptime, exit);
    const say = this.o.say;
    say(`${this.name} (pid ${proc.pid ?? "?"}) exited unexpectedly: ${describeExit(exit)}, after ${formatDuration(uptime)} up`);
    const lines = proc.recentLines().slice(-CRASH_REPORT_LINES);
    if (lines.length === 0) say(`  (${this.name} wrote nothing)`);
    else {
      say(`  last lines of ${this.name}:`);
      for (const line of lines) say(`    ${line}`);
    }
    if (decision.action === "give-up") {
      say(`NOT restarting ${this.name}: ${decision.reason}. The rest of the stack keeps running; fix the cause and restart the stack.`);
      this.setState("given-up");
      return;
    }
    const next = this.restartCount + 1;
    const loop = decision.rapidCrashes > 1 ? `; crash ${decision.rapidCrashes} in a row, at most ${this.policy.options.maxRapidCrashes}` : "";
    say(`restarting ${this.name} in ${formatDuration(decision.delayMs)} (restart ${next}${loop})`);
    this.setState("backoff");
    try {
      await sleep(decision.delayMs, undefined, { signal: this.stopped.signal });
    } catch {
      return; // stopping: no restart
    }
    if (this.stopped.signal.aborted) return;
    this.restartCount = next;
    this.state = "starting";
    this.launch();
    const started = this.proc;
    say(`restarted ${this.name} (pid ${started.pid ?? "?"}, restart ${next}) with the same command, environment and ports`);
    this.o.onChange?.();
    await this.awaitReady(started, next);
  }

  private async awaitReady(proc: SupervisedProcess, restart: number): Promise<void> {
    if (!this.o.ready) {
      if (proc === this.proc && proc.running) this.setState("running");
      return;
    }
    const gone = new AbortController();
    void proc.exited.then(() => gone.abort());
    const timeoutMs = this.o.readyTimeoutMs ?? 120_000;
    const signal = AbortSignal.any([this.stopped.signal, gone.signal, AbortSignal.timeout(timeoutMs)]);
    try {
      await this.o.ready(signal);
    } catch (err) {
      // Ended again (its own exit handler reports it) or we are stopping: nothing to add.
      if (this.stopped.signal.aborted || gone.signal.aborted) return;
      this.o.say(`${this.name} (restart ${restart}) is running but not ${this.o.readyWord ?? "ready"} after ${formatDuration(timeoutMs)}: ${(err as Error).message}`);
      return;
    }
    if (proc !== this.proc || !proc.running) return;
    this.o.say(`${this.name} is ${this.o.readyWord ?? "ready"} again (pid ${proc.pid ?? "?"}, restart ${restart})`);
    this.setState("running");
  }
}
