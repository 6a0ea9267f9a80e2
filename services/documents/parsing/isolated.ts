import { InvalidArgumentError } from "#mesh/errors.js";
import { parse, parsesInline, requireSupported, type ParsedText, type ParseLimits } from "./index.js";
import type { ParseJob } from "./parse-worker.js";
import { WorkerLimitError, WorkerPool } from "./pool.js";

/** What the handlers parse bodies with. */
export interface DocumentParser {
  parse(body: string | Buffer, contentType: string, filename: string, signal?: AbortSignal): Promise<ParsedText>;
}

export interface IsolationOptions {
  /** Parse worker processes. */
  workers: number;
  /** Files that may wait for a worker before uploads are refused with RESOURCE_EXHAUSTED. */
  queue: number;
  timeoutMs: number;
  maxMemoryMb: number;
  limits: ParseLimits;
}

/**
 * Parses untrusted files in worker processes (pool.ts) under the format limits (limits.ts), a heap limit
 * and a time limit. Running out of time or memory is INVALID_ARGUMENT naming the limit, like every other
 * limit: the file is at fault and the same file fails again, so a client must not retry it (which
 * RESOURCE_EXHAUSTED, 429 at the gateway, or DEADLINE_EXCEEDED would invite). RESOURCE_EXHAUSTED is kept
 * for the one transient case, every worker busy and the queue full. Plain text is parsed inline: a few
 * linear passes that cost less than the trip to a worker, and it keeps text uploads moving while the
 * workers are busy with hostile files.
 */
export class IsolatedParser implements DocumentParser {
  private readonly pool: WorkerPool<ParseJob, ParsedText>;

  constructor(private readonly opts: IsolationOptions) {
    this.pool = new WorkerPool({
      module: new URL("./parse-worker.ts", import.meta.url),
      name: "parse",
      size: opts.workers,
      queue: opts.queue,
      timeoutMs: opts.timeoutMs,
      maxMemoryMb: opts.maxMemoryMb,
      settings: { size: "PARSE_WORKERS", queue: "PARSE_QUEUE" },
    });
  }

  async parse(body: string | Buffer, contentType: string, filename: string, signal?: AbortSignal): Promise<ParsedText> {
    requireSupported(contentType, filename); // refused here, not after a wait for a worker
    if (parsesInline(contentType)) return parse(body, contentType, filename, signal, this.opts.limits);
    try {
      // Node's serializer copies a Buffer's own bytes, not the larger pool a request's Buffer may sit in.
      return await this.pool.run({ body, contentType, filename, limits: this.opts.limits }, signal);
    } catch (err) {
      if (!(err instanceof WorkerLimitError)) throw err;
      const field = typeof body === "string" ? "text" : "content";
      const name = filename || "the upload";
      throw err.limit === "time"
        ? new InvalidArgumentError(field, `${name}: the time to parse it exceeds the limit of ${this.opts.timeoutMs} ms (PARSE_TIMEOUT_MS)`)
        : new InvalidArgumentError(field, `${name}: the memory needed to parse it exceeds the limit of ${this.opts.maxMemoryMb} MB (PARSE_MAX_MEMORY_MB)`);
    }
  }

  /** Stops the workers; parses in progress fail with UNAVAILABLE. */
  close(): Promise<void> {
    return this.pool.close();
  }

  get workers(): number {
    return this.pool.workers;
  }
}
