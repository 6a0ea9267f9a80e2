import { ResourceExhaustedError, UnavailableError } from "#mesh/errors.js";
import { errorFields, log } from "#mesh/logger.js";
import type { JobBus } from "./bus.js";
import { jobCallOptions, type Clients } from "./clients.js";
import { openConnector } from "./connectors/index.js";
import type { FetchLimits } from "./connectors/fetch.js";
import type { ConnectorEvent } from "./connectors/types.js";
import { toItemError, type StageName } from "./convert.js";
import { describeError } from "./indexer.js";
import type { EventPublisher } from "#mesh/events.js";
import { ingestItem, type PipelineContext } from "./pipeline.js";
import type { JobRow, JobStore } from "./store.js";
import { JobTally } from "./tally.js";
import type { JobSpec } from "./validate.js";

export interface RunnerOptions {
  /** Jobs run at once. */
  concurrency: number;
  /** Items of one job in flight at once. */
  itemConcurrency: number;
  /** Upload bytes queued and running jobs may hold in memory. */
  maxPendingBytes: number;
  callTimeoutMs: number;
  embedBatch: number;
  model: string;
  web: FetchLimits;
}

export interface RunnerDeps {
  store: JobStore;
  bus: JobBus;
  clients: Clients;
  notifier: EventPublisher;
  workerId: string;
}

interface QueuedJob {
  tenant: string;
  jobId: string;
  spec: JobSpec;
  /** Gives back the upload bytes reserved for the job. */
  release: () => void;
}

interface ActiveJob {
  /** Cancel: take no new items, let those in flight finish. */
  stop: AbortController;
  /** Shutdown: abandon everything now. */
  hard: AbortController;
  done: Promise<void>;
}

export const SHUTDOWN_REASON = "the ingestion service shut down before the job finished; start the job again";

/**
 * Runs jobs in this process: a FIFO queue, at most `concurrency` jobs at once, each reading its connector
 * and sending up to `itemConcurrency` items through the pipeline. Jobs live only in this process: they do
 * not survive a restart (see liveness.ts for how they are then marked FAILED).
 */
export class JobRunner {
  private readonly queue: QueuedJob[] = [];
  private readonly active = new Map<string, ActiveJob>();
  private pendingBytes = 0;
  private closing = false;

  constructor(
    private readonly deps: RunnerDeps,
    private readonly opts: RunnerOptions,
  ) {}

  /** Reserves memory for a job's uploads; RESOURCE_EXHAUSTED when this process holds too much already. */
  reserve(bytes: number): () => void {
    if (this.closing) throw new UnavailableError("the ingestion service is shutting down; retry on another replica");
    if (bytes > 0 && this.pendingBytes + bytes > this.opts.maxPendingBytes) {
      throw new ResourceExhaustedError(
        `the ingestion queue already holds ${this.pendingBytes} bytes of uploads and this job adds ${bytes} (limit ${this.opts.maxPendingBytes}); retry when running jobs finish`,
      );
    }
    this.pendingBytes += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.pendingBytes -= bytes;
    };
  }

  enqueue(tenant: string, jobId: string, spec: JobSpec, release: () => void): void {
    this.queue.push({ tenant, jobId, spec, release });
    this.pump();
  }

  /** CancelJob: a queued job ends now, a running one stops taking items. Undefined when there is no such job. */
  async cancel(tenant: string, jobId: string): Promise<JobRow | undefined> {
    const found = await this.deps.store.requestCancel(tenant, jobId);
    if (!found) return undefined;
    const { row, changed } = found;
    if (changed && row.state === "CANCELLED") {
      const i = this.queue.findIndex((j) => j.jobId === jobId);
      if (i >= 0) this.queue.splice(i, 1)[0]!.release();
      this.notifyEnded(row);
    }
    if (row.state === "CANCELLING") this.active.get(jobId)?.stop.abort();
    if (changed) this.deps.bus.publish(jobId);
    return row;
  }

  /** Shutdown: queued jobs are dropped, running ones abandoned, and all of them marked FAILED. */
  async close(graceMs: number): Promise<void> {
    this.closing = true;
    for (const job of this.queue.splice(0)) job.release();
    for (const job of this.active.values()) job.hard.abort();
    const done = Promise.allSettled([...this.active.values()].map((j) => j.done));
    await Promise.race([done, new Promise((r) => setTimeout(r, graceMs).unref())]);
    const failed = await this.deps.store.failWorkerJobs(this.deps.workerId, SHUTDOWN_REASON);
    for (const row of failed) this.ended(row);
  }

  /** A job that ended elsewhere (sweep, shutdown): tell watchers and subscribers. */
  ended(row: JobRow): void {
    this.deps.bus.publish(row.job_id);
    this.notifyEnded(row);
  }

  private pump(): void {
    while (!this.closing && this.active.size < this.opts.concurrency && this.queue.length > 0) {
      const job = this.queue.shift()!;
      const entry: ActiveJob = { stop: new AbortController(), hard: new AbortController(), done: Promise.resolve() };
      this.active.set(job.jobId, entry);
      entry.done = this.run(job, entry)
        .catch((err) => void log.error("job runner failed", { job_id: job.jobId, tenant: job.tenant, ...errorFields(err) }))
        .finally(() => {
          job.release();
          this.active.delete(job.jobId);
          this.pump();
        });
    }
  }

  private async run(job: QueuedJob, control: ActiveJob): Promise<void> {
    const { store, bus, clients } = this.deps;
    const { tenant, jobId, spec } = job;
    if (!(await store.markRunning(tenant, jobId))) return; // cancelled or swept while queued
    bus.publish(jobId);
    log.info("job started", { tenant, job_id: jobId, collection: spec.collection });

    const tally = new JobTally(spec.qualityOptions.minTextLength);
    const ctx: PipelineContext = {
      tenant,
      collection: spec.collection,
      tags: spec.tags,
      metadata: spec.metadata,
      quality: spec.qualityOptions,
      store,
      jobHashes: new Set(),
      clients,
      call: () => jobCallOptions(tenant, jobId, this.opts.callTimeoutMs, control.hard.signal),
      embedBatch: this.opts.embedBatch,
      model: this.opts.model,
    };

    // Writes of one job go out in order, so a slow write can never overwrite a newer one.
    let writes = Promise.resolve();
    let lost = false;
    const write = (fn: () => Promise<void>) => {
      writes = writes.then(fn).catch((err) => void log.warn("could not save job progress", { job_id: jobId, ...errorFields(err) }));
    };
    const saveProgress = () =>
      write(async () => {
        const { progress, report } = tally.snapshot();
        const state = await store.saveProgress(tenant, jobId, progress, report);
        if (state === "CANCELLING") control.stop.abort(); // cancelled through another replica
        if (state === undefined) {
          lost = true; // ended by someone else (the orphan sweep): stop, write nothing more
          control.hard.abort();
        }
        bus.publish(jobId);
      });
    const itemFailed = (item: string, stage: StageName, message: string) =>
      write(async () => {
        await store.addItemError(tenant, jobId, { item, stage, message });
        bus.publish(jobId, { itemError: toItemError({ item, stage, message, time: new Date() }) });
      });

    const handle = async (event: ConnectorEvent) => {
      if (event.kind !== "item") {
        tally.connector(event);
        if (event.kind === "failed") itemFailed(event.item, event.stage, event.message);
      } else {
        tally.read(event.item);
        const outcome = await ingestItem(event.item, ctx);
        tally.handled(event.item, outcome);
        if (outcome.result === "failed") itemFailed(event.item.item, outcome.stage, outcome.message);
        if (outcome.result === "succeeded") this.notifyIngested(tenant, jobId, outcome.document, outcome.created, outcome.chunksIndexed);
      }
      saveProgress();
    };

    let fatal = "";
    try {
      const signal = AbortSignal.any([control.stop.signal, control.hard.signal]);
      await forEachBounded(openConnector(spec.fullSource, this.opts.web)(signal), this.opts.itemConcurrency, signal, handle);
    } catch (err) {
      fatal = `reading the source failed: ${describeError(err)}`;
      log.error("job source failed", { tenant, job_id: jobId, ...errorFields(err) });
    }
    await writes;
    if (lost) return;

    const c = tally.counters;
    let state: "SUCCEEDED" | "FAILED" | "CANCELLED" = "SUCCEEDED";
    let error = "";
    if (control.hard.signal.aborted) [state, error] = ["FAILED", SHUTDOWN_REASON];
    else if (control.stop.signal.aborted) state = "CANCELLED";
    else if (fatal) [state, error] = ["FAILED", fatal];
    else if (c.itemsProcessed > 0 && c.itemsFailed === c.itemsProcessed) [state, error] = ["FAILED", `every item failed (${c.itemsFailed}); the first: ${tally.firstError}`];
    if (state === "SUCCEEDED") c.passesCompleted = 1;
    const { progress, report } = tally.snapshot();
    const row = await store.finish(tenant, jobId, { state, error, progress, report });
    bus.publish(jobId);
    if (row) {
      log.info("job ended", { tenant, job_id: jobId, state: row.state, items: c.itemsProcessed, failed: c.itemsFailed });
      this.notifyEnded(row);
    }
  }

  private notifyIngested(tenant: string, jobId: string, doc: { documentId: string; collection: string; sourceUri: string; title: string; version: string }, created: boolean, chunks: number): void {
    this.deps.notifier.publish({
      tenant,
      scope: jobId,
      type: "document.ingested",
      payload: { job_id: jobId, document_id: doc.documentId, collection: doc.collection, source_uri: doc.sourceUri, title: doc.title, version: doc.version, created, chunks_indexed: chunks },
      id: `${jobId}:${doc.documentId}:${doc.version}`,
    });
  }

  private notifyEnded(row: JobRow): void {
    const p = row.progress;
    this.deps.notifier.publish({
      tenant: row.tenant_id,
      scope: row.job_id,
      type: row.state === "FAILED" ? "ingestion.job.failed" : "ingestion.job.finished",
      payload: {
        job_id: row.job_id,
        state: row.state.toLowerCase(),
        collection: row.collection,
        display_name: row.display_name,
        items_processed: p.itemsProcessed ?? 0,
        items_succeeded: p.itemsSucceeded ?? 0,
        items_skipped: p.itemsSkipped ?? 0,
        items_failed: p.itemsFailed ?? 0,
        error: row.error,
      },
      id: `${row.job_id}:ended`,
    });
  }
}

/** Runs `fn` over the items of `source`, at most `limit` at once, until the source ends or `signal` aborts. */
async function forEachBounded<T>(source: AsyncIterable<T>, limit: number, signal: AbortSignal, fn: (item: T) => Promise<void>): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  try {
    for await (const item of source) {
      if (signal.aborted) break;
      const p: Promise<void> = fn(item).finally(() => inFlight.delete(p));
      inFlight.add(p);
      if (inFlight.size >= limit) await Promise.race(inFlight);
      if (signal.aborted) break;
    }
  } finally {
    await Promise.allSettled([...inFlight]);
  }
}
