import { randomUUID } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { AskResponse } from "#gen/rag/v1/query.js";
import { detachedFrom, runDetached, type CallContext } from "#mesh/context.js";
import { DeadlineExceededError, ResourceExhaustedError, RpcError, toServiceError, UnavailableError } from "#mesh/errors.js";
import { errorFields, log } from "#mesh/logger.js";
import type { AskRecord, AskRecords } from "./ask-records.js";
import type { Asker } from "./asker.js";
import type { AskPlan } from "./plan.js";
import type { QueryHistory } from "./history.js";

export interface BackgroundOptions {
  workers: number;
  queueLimit: number;
  timeoutMs: number;
}

interface Job {
  tenant: string;
  plan: AskPlan;
  record: AskRecord;
  /** The submitting call's identity, for the calls the ask makes once that call has returned. */
  ctx: CallContext;
  abort: AbortController;
}

/** How long close() waits for running asks to record their (failed) outcome. */
const CLOSE_BOUND_MS = 5_000;

/**
 * Runs submitted asks after SubmitAsk has returned: up to `workers` at once, the rest waiting in order
 * (ASK_STATE_PENDING). Each ask runs as its own call: own deadline (from submission), own abort signal,
 * the submitter's tenant and request id on its outbound calls. Outcomes go to AskRecords, where any replica
 * can read them.
 */
export class BackgroundAsks {
  private readonly waiting: Job[] = [];
  private readonly running = new Map<Job, Promise<void>>();
  private closed = false;

  constructor(
    private readonly asker: Asker,
    private readonly records: AskRecords,
    private readonly opts: BackgroundOptions,
    private readonly history?: QueryHistory,
  ) {}

  async submit(ctx: CallContext, tenant: string, plan: AskPlan): Promise<AskRecord> {
    if (this.closed) throw shuttingDown();
    if (this.running.size >= this.opts.workers && this.waiting.length >= this.opts.queueLimit) {
      throw new ResourceExhaustedError(`${this.waiting.length} asks are already waiting on this replica; retry later`);
    }
    const now = Date.now();
    const record: AskRecord = { id: randomUUID(), question: plan.question, state: "pending", createTime: now, deadline: now + this.opts.timeoutMs };
    // Written before the id is handed out, so GetAskResult finds it at once, on any replica.
    await this.records.put(tenant, record);
    const abort = new AbortController();
    const job = { tenant, plan, record, ctx: detachedFrom(ctx, { method: "SubmitAsk", deadline: record.deadline, signal: abort.signal }), abort };
    if (this.closed) {
      // Shutdown began while the record was written: leave it failed, not pending forever.
      const reason = shuttingDown();
      await this.fail(job, reason);
      throw reason;
    }
    this.waiting.push(job);
    this.pump();
    return record;
  }

  /** Fails what has not finished (the caller may submit again elsewhere) and waits, bounded, for the records. */
  async close(): Promise<void> {
    this.closed = true;
    const reason = () => new UnavailableError("the query replica shut down before the ask finished; submit it again");
    const queued = this.waiting.splice(0);
    const writes = queued.map((job) => this.fail(job, reason()));
    for (const job of this.running.keys()) job.abort.abort(reason());
    const all = Promise.all([...writes, ...this.running.values()]);
    await Promise.race([all, new Promise((resolve) => setTimeout(resolve, CLOSE_BOUND_MS).unref())]);
  }

  private pump(): void {
    while (!this.closed && this.running.size < this.opts.workers && this.waiting.length > 0) {
      const job = this.waiting.shift()!;
      // The whole ask runs in its own context, never in the submitting call's (which has long returned).
      const run = runDetached(job.ctx, () => this.run(job)).finally(() => {
        this.running.delete(job);
        this.pump();
      });
      this.running.set(job, run);
    }
  }

  private async run(job: Job): Promise<void> {
    const { signal } = job.abort;
    const timer = setTimeout(
      () => job.abort.abort(new DeadlineExceededError(`the ask did not finish within ${this.opts.timeoutMs} ms of its submission`)),
      Math.max(0, job.record.deadline - Date.now()),
    );
    try {
      await this.records.put(job.tenant, { ...job.record, state: "running" });
      const answering = this.asker.ask(job.tenant, job.plan);
      const result = await Promise.race([answering, aborted(signal)]);
      await this.records.put(job.tenant, {
        ...job.record,
        state: "succeeded",
        completeTime: Date.now(),
        result: Buffer.from(AskResponse.encode(result).finish()).toString("base64"),
      });
      this.history?.record(job.ctx, result.collection || job.plan.collection, job.plan.question, result, result.timings?.totalMs ?? 0);
    } catch (err) {
      // Once aborted, the outbound calls fail as CANCELLED; the abort's reason is the truth.
      await this.fail(job, signal.aborted ? signal.reason : err);
    } finally {
      clearTimeout(timer);
    }
  }

  private async fail(job: Job, err: unknown): Promise<void> {
    const failure = toServiceError(err);
    if (failure.code === status.INTERNAL && !(err instanceof RpcError)) log.error("submitted ask failed", { ask_id: job.record.id, ...errorFields(err) });
    await this.records.put(job.tenant, {
      ...job.record,
      state: "failed",
      completeTime: Date.now(),
      errorCode: status[failure.code] ?? String(failure.code),
      errorMessage: failure.details,
    });
  }
}

const shuttingDown = () => new UnavailableError("this query replica is shutting down; submit the ask again");

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}
