import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ResourceExhaustedError, UnavailableError } from "#mesh/errors.js";
import { errorFields, log } from "#mesh/logger.js";
import { revive, type FromWorker } from "./worker-host.js";

/*
 * A small, bounded pool of worker processes for work that untrusted input can make arbitrarily expensive.
 * Each worker has its own heap limit, so a file that needs gigabytes kills only its worker; each job has a
 * wall-clock limit, after which its worker is killed mid-job (synchronous code cannot be interrupted any
 * other way). A dead worker is replaced. The event loop of the service never runs the work, so its other
 * calls keep their latency, and the queue in front of the workers is bounded.
 *
 * Processes, not worker threads: a worker thread's heap limit does not contain every exhaustion. When one
 * allocation jumps past the limit (a 300 MB string from a zip bomb, say), V8 grants the thread some slack,
 * the next allocation fails, and V8 aborts the whole process, service and all (seen on Node 20 with
 * resourceLimits.maxOldGenerationSizeMb). A child process that aborts takes only itself down.
 */

/** Workers that die before they ever report ready in a row: the module is broken, not the input. */
const MAX_START_FAILURES = 3;

export interface PoolOptions {
  /** The worker's TypeScript module, run with tsx like the services; it calls serveJobs (worker-host.ts). */
  module: URL;
  /** What the pool does, for messages and logs. */
  name: string;
  /** Worker processes at most (started when first needed). */
  size: number;
  /** Jobs that may wait for a worker; one more is refused with RESOURCE_EXHAUSTED. */
  queue: number;
  /** Wall-clock limit of one job, from when a worker starts it. */
  timeoutMs: number;
  /** V8 heap (old generation) of each worker. Buffers live outside it: the format limits bound those. */
  maxMemoryMb: number;
  /** Settings to name in refusals, e.g. { queue: "PARSE_QUEUE" }. */
  settings?: { size?: string; queue?: string };
}

/** A job ran out of its time or memory: the input's fault, told apart from the pool's own failures. */
export class WorkerLimitError extends Error {
  constructor(
    readonly limit: "time" | "memory",
    message: string,
  ) {
    super(message);
    this.name = "WorkerLimitError";
  }
}

interface Job {
  id: number;
  payload: unknown;
  resolve(value: unknown): void;
  reject(err: unknown): void;
  signal?: AbortSignal;
  onAbort?: () => void;
  /** The caller has its answer (a result, an error, or its own cancellation). */
  settled: boolean;
}

interface Slot {
  worker: ChildProcess;
  ready: boolean;
  job?: Job;
  timer?: NodeJS.Timeout;
  /** Being terminated by the pool: no longer counted, its replacement may already start. */
  ending: boolean;
  /** The end of what the worker wrote to stderr: how an abort says why (V8's "heap out of memory"). */
  stderr: string;
  error?: Error;
}

/** tsx as this module resolves it, so a worker starts whatever the service's working directory is. */
const TSX = import.meta.resolve("tsx");

/** What V8 prints when a heap limit kills a process. */
const OUT_OF_MEMORY = /heap out of memory|Reached heap limit|Allocation failed/;

export class WorkerPool<In, Out> {
  private readonly slots = new Set<Slot>();
  private readonly waiting: Job[] = [];
  private nextId = 1;
  private closed = false;
  private startFailures = 0;

  constructor(private readonly opts: PoolOptions) {}

  /** Runs one job on a worker (the payload is copied to it with structured clone). */
  run(payload: In, signal?: AbortSignal): Promise<Out> {
    if (this.closed) return Promise.reject(new UnavailableError(`the ${this.opts.name} workers are shutting down`));
    if (signal?.aborted) return Promise.reject(signal.reason);
    const running = [...this.slots].filter((s) => s.job).length;
    if (running + this.waiting.length >= this.opts.size + this.opts.queue) {
      const setting = this.opts.settings?.queue ? ` (${this.opts.settings.queue}=${this.opts.queue})` : "";
      return Promise.reject(new ResourceExhaustedError(`${this.opts.name}: all ${this.opts.size} workers are busy and ${this.waiting.length} jobs are waiting${setting}; retry later`));
    }
    return new Promise<Out>((resolve, reject) => {
      const job: Job = { id: this.nextId++, payload, resolve: resolve as (v: unknown) => void, reject, settled: false };
      if (signal) {
        job.signal = signal;
        job.onAbort = () => {
          // Waiting: it leaves the queue. Running: the caller is answered now, but its worker stays busy
          // until the job ends or times out, so the pool's bound holds.
          const at = this.waiting.indexOf(job);
          if (at >= 0) this.waiting.splice(at, 1);
          this.settle(job, () => reject(signal.reason));
        };
        signal.addEventListener("abort", job.onAbort, { once: true });
      }
      this.waiting.push(job);
      this.pump();
    });
  }

  /** Refuses new jobs, fails the waiting and running ones, and stops every worker. */
  async close(): Promise<void> {
    this.closed = true;
    const gone = new UnavailableError(`the ${this.opts.name} workers are shutting down`);
    for (const job of this.waiting.splice(0)) this.settle(job, () => job.reject(gone));
    await Promise.all(
      [...this.slots].map((slot) => {
        clearTimeout(slot.timer);
        if (slot.job) this.settle(slot.job, () => slot.job!.reject(gone));
        slot.ending = true;
        return this.kill(slot);
      }),
    );
  }

  /** Workers alive (for tests and metrics). */
  get workers(): number {
    return [...this.slots].filter((s) => !s.ending).length;
  }

  private pump(): void {
    while (!this.closed && this.waiting.length > 0) {
      const live = [...this.slots].filter((s) => !s.ending);
      const idle = live.find((s) => s.ready && !s.job);
      if (idle) {
        this.dispatch(idle, this.waiting.shift()!);
        continue;
      }
      const starting = live.filter((s) => !s.ready).length;
      if (live.length < this.opts.size && starting < this.waiting.length) {
        this.spawn();
        continue;
      }
      return;
    }
  }

  private spawn(): void {
    const worker = fork(fileURLToPath(this.opts.module), [], {
      // Not the parent's flags: those start telemetry or the test runner, which a worker must not.
      execArgv: ["--import", TSX, `--max-old-space-size=${this.opts.maxMemoryMb}`],
      serialization: "advanced", // Buffers and typed arrays cross as such
      stdio: ["ignore", "inherit", "pipe", "ipc"],
    });
    const slot: Slot = { worker, ready: false, ending: false, stderr: "" };
    this.slots.add(slot);
    worker.stderr!.setEncoding("utf8");
    worker.stderr!.on("data", (text: string) => {
      process.stderr.write(text);
      slot.stderr = (slot.stderr + text).slice(-4096);
    });
    worker.on("message", (message: FromWorker) => this.onMessage(slot, message));
    worker.on("error", (err) => (slot.error = err));
    worker.on("exit", (code, signal) => this.onExit(slot, code ?? signal ?? "unknown"));
  }

  private dispatch(slot: Slot, job: Job): void {
    slot.job = job;
    slot.timer = setTimeout(() => this.timeOut(slot), this.opts.timeoutMs);
    slot.worker.send({ id: job.id, payload: job.payload }, (err) => {
      // The worker died as the job was sent: its exit answers the job.
      if (err) slot.error ??= err;
    });
  }

  /** SIGKILL, and resolves once the worker is gone. */
  private kill(slot: Slot): Promise<void> {
    const worker = slot.worker;
    if (worker.exitCode !== null || worker.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      worker.once("exit", () => resolve());
      worker.kill("SIGKILL");
    });
  }

  private onMessage(slot: Slot, message: FromWorker): void {
    if (message.type === "ready") {
      slot.ready = true;
      this.startFailures = 0;
    } else {
      const job = slot.job;
      if (!job || job.id !== message.id) return; // the answer to a job already timed out
      clearTimeout(slot.timer);
      slot.job = undefined;
      if (message.type === "done") this.settle(job, () => job.resolve(message.value));
      else this.settle(job, () => job.reject(revive(message.error)));
    }
    this.pump();
  }

  private timeOut(slot: Slot): void {
    const job = slot.job;
    slot.job = undefined;
    slot.ending = true;
    log.warn(`a ${this.opts.name} job ran past its time limit: its worker is replaced`, { limitMs: this.opts.timeoutMs });
    if (job) this.settle(job, () => job.reject(new WorkerLimitError("time", `took longer than ${this.opts.timeoutMs} ms`)));
    void this.kill(slot);
    this.pump();
  }

  private onExit(slot: Slot, code: number | string): void {
    this.slots.delete(slot);
    clearTimeout(slot.timer);
    const job = slot.job;
    slot.job = undefined;
    if (this.closed || (slot.ending && !job)) return;
    const outOfMemory = OUT_OF_MEMORY.test(slot.stderr);
    if (job) {
      const err = outOfMemory
        ? new WorkerLimitError("memory", `needed more than ${this.opts.maxMemoryMb} MB of memory`)
        : new Error(`the ${this.opts.name} worker stopped (exit ${code})${slot.error ? `: ${slot.error.message}` : ""}`);
      log.warn(`a ${this.opts.name} worker died during a job: it is replaced`, { exitCode: code, outOfMemory, ...(slot.error && !outOfMemory ? errorFields(slot.error) : {}) });
      this.settle(job, () => job.reject(err));
    } else if (!slot.ready) {
      log.error(`a ${this.opts.name} worker failed to start`, { exitCode: code, stderr: slot.stderr.slice(-1000), ...(slot.error ? errorFields(slot.error) : {}) });
      if (++this.startFailures >= MAX_START_FAILURES) {
        const err = new UnavailableError(`the ${this.opts.name} workers cannot start; see the service's log`);
        for (const waiting of this.waiting.splice(0)) this.settle(waiting, () => waiting.reject(err));
        this.startFailures = 0;
        return;
      }
    }
    this.pump();
  }

  private settle(job: Job, answer: () => void): void {
    if (job.settled) return;
    job.settled = true;
    if (job.onAbort) job.signal?.removeEventListener("abort", job.onAbort);
    answer();
  }
}
