import { JobSource } from "#gen/rag/v1/ingestion.js";
import { detachedContext, runDetached } from "#mesh/context.js";
import { ResourceExhaustedError, UnavailableError } from "#mesh/errors.js";
import type { EventPublisher } from "#mesh/events.js";
import { errorFields, log } from "#mesh/logger.js";
import type { JobBus } from "./bus.js";
import { jobCallOptions, type Clients } from "./clients.js";
import { openConnector } from "./connectors/index.js";
import type { FetchLimits } from "./connectors/fetch.js";
import type { ConnectorEvent } from "./connectors/types.js";
import { toItemError } from "./convert.js";
import { describeError } from "./indexer.js";
import { ingestItem, type PipelineContext } from "./pipeline.js";
import type { ItemRecord, JobRow, JobStore } from "./store.js";
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
  /** A job's own budget, from its first start: no request's deadline ever applies to it. */
  jobDeadlineMs: number;
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

/** What the runner needs of a job besides its source. */
type JobSettings = Pick<JobSpec, "collection" | "tags" | "metadata" | "qualityOptions">;

interface QueuedJob {
  tenant: string;
  jobId: string;
  /** The user who started the job: outbound calls are made on their behalf. */
  callerId: string;
  settings: JobSettings;
  /** The source with its file bytes (in memory for a new job, from the store for a resumed one). */
  source: () => Promise<JobSource>;
  /** Gives back the upload bytes reserved for the job. */
  release: () => void;
}

interface ActiveJob {
  /** Cancel: take no new items, let those in flight finish, end CANCELLED. */
  stop: AbortController;
  /** Shutdown: take no new items, let those in flight finish, leave the job to the next worker. */
  drain: AbortController;
  /** Shutdown past its bound: abandon the items in flight (the next worker does them again). */
  hard: AbortController;
  done: Promise<void>;
}

/** How long shutdown lets the items in flight finish before abandoning them (they are redone on resume). */
export const DRAIN_BOUND_MS = 3_000;

/**
 * Runs jobs in this process: a FIFO queue, at most `concurrency` jobs at once, each reading its connector
 * and sending up to `itemConcurrency` items through the pipeline. A job runs in a context of its own
 * (runDetached: its own budget, the starting user's identity), never in the StartJob call's. Every handled
 * item is recorded with the job's counters in one transaction, so a job whose worker died (crash, SIGKILL,
 * SIGTERM) is resumed by the next worker (liveness.ts), skipping the items already done.
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

  /** A job just started (StartJob): its source, bytes included, is in memory. */
  enqueue(tenant: string, jobId: string, callerId: string, spec: JobSpec, release: () => void): void {
    this.queue.push({ tenant, jobId, callerId, settings: spec, source: async () => spec.fullSource, release });
    this.pump();
  }

  /** A job taken over from a dead worker: it goes on from where that worker's last record left it. */
  resume(row: JobRow): void {
    if (this.closing || this.active.has(row.job_id) || this.queue.some((j) => j.jobId === row.job_id)) return;
    const { store } = this.deps;
    const source = async () => {
      const stored = JobSource.fromJSON(row.source);
      if (stored.kind?.$case === "files") {
        const bytes = await store.files(row.tenant_id, row.job_id);
        if (bytes.length !== stored.kind.value.files.length) {
          throw new Error("the uploaded files of this job were not kept (it was started by an older release); start the job again");
        }
        stored.kind.value.files = stored.kind.value.files.map((f, i) => ({ ...f, content: bytes[i] ?? Buffer.alloc(0) }));
      }
      return stored;
    };
    const settings: JobSettings = { collection: row.collection, tags: row.tags, metadata: row.metadata, qualityOptions: row.quality_options };
    log.info("resuming a job whose worker stopped", { tenant: row.tenant_id, job_id: row.job_id, state: row.state });
    this.queue.push({ tenant: row.tenant_id, jobId: row.job_id, callerId: row.caller_id, settings, source, release: () => undefined });
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
      await this.deps.store.dropRunData(tenant, jobId).catch((err) => log.warn("could not drop a cancelled job's files", { job_id: jobId, ...errorFields(err) }));
      this.notifyEnded(row);
    }
    if (row.state === "CANCELLING") this.active.get(jobId)?.stop.abort();
    if (changed) this.deps.bus.publish(jobId);
    return row;
  }

  /**
   * Shutdown (SIGTERM): no job is failed because this process stops. Queued jobs stay QUEUED and running
   * ones stop taking items, finish those in flight (bounded by `boundMs`, then abandon them) and stay
   * RUNNING: the next worker to start, or a live replica's sweep, resumes them.
   */
  async close(boundMs = DRAIN_BOUND_MS): Promise<void> {
    this.closing = true;
    const left = [...this.queue.splice(0).map((j) => (j.release(), j.jobId)), ...this.active.keys()];
    for (const job of this.active.values()) job.drain.abort();
    const done = Promise.allSettled([...this.active.values()].map((j) => j.done));
    const clean = await Promise.race([done.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), boundMs).unref())]);
    if (!clean) {
      for (const job of this.active.values()) job.hard.abort();
      await Promise.race([done, new Promise((r) => setTimeout(r, 1_000).unref())]);
    }
    if (left.length > 0) log.info("left jobs for the next worker to resume", { jobs: left, items_in_flight_abandoned: !clean });
  }

  private pump(): void {
    while (!this.closing && this.active.size < this.opts.concurrency && this.queue.length > 0) {
      const job = this.queue.shift()!;
      const entry: ActiveJob = { stop: new AbortController(), drain: new AbortController(), hard: new AbortController(), done: Promise.resolve() };
      this.active.set(job.jobId, entry);
      // Out of whatever call led here (StartJob, CancelJob): run() makes the job's own context.
      const outside = { service: "rag.v1.IngestionService", method: "job", tenantId: job.tenant, callerId: job.callerId || undefined, requestId: job.jobId, deadline: Date.now() + this.opts.jobDeadlineMs };
      entry.done = runDetached(outside, () => this.run(job, entry))
        .catch((err) => void log.error("job runner failed", { job_id: job.jobId, tenant: job.tenant, ...errorFields(err) }))
        .finally(() => {
          job.release();
          this.active.delete(job.jobId);
          this.pump();
        });
    }
  }

  private async run(job: QueuedJob, control: ActiveJob): Promise<void> {
    const { store, bus, workerId } = this.deps;
    const { tenant, jobId } = job;
    const row = await store.markRunning(tenant, jobId, workerId);
    if (!row) return; // cancelled while queued, or taken over by another worker
    bus.publish(jobId);
    if (row.state === "CANCELLING") control.stop.abort(); // cancelled while its previous worker ran it
    // The job's own budget, counted from its first start (a resumed job does not get a new one).
    const deadline = (row.start_time?.getTime() ?? Date.now()) + this.opts.jobDeadlineMs;
    const context = detachedContext({ service: "rag.v1.IngestionService", method: "job", tenantId: tenant, callerId: job.callerId || undefined, requestId: jobId, deadline, signal: control.hard.signal });
    await runDetached(context, () => this.execute(job, control, row, context.signal, deadline));
  }

  private async execute(job: QueuedJob, control: ActiveJob, row: JobRow, budget: AbortSignal, deadline: number): Promise<void> {
    const { store, bus, clients, workerId } = this.deps;
    const { tenant, jobId, settings } = job;
    const resumed = row.checkpoint !== null;
    const done = resumed ? await store.doneItems(tenant, jobId) : new Set<string>();
    log.info(resumed ? "job resumed" : "job started", { tenant, job_id: jobId, collection: settings.collection, items_done: done.size });

    const tally = new JobTally(settings.qualityOptions.minTextLength);
    if (row.checkpoint) tally.restore(row.checkpoint);
    const ctx: PipelineContext = {
      tenant,
      collection: settings.collection,
      tags: settings.tags,
      metadata: settings.metadata,
      quality: settings.qualityOptions,
      store,
      jobHashes: new Set(),
      clients,
      call: () => jobCallOptions(tenant, jobId, this.opts.callTimeoutMs, budget),
      embedBatch: this.opts.embedBatch,
      model: this.opts.model,
    };

    // Records of one job go out in order, so each one's checkpoint counts exactly the items recorded with it and before.
    let writes = Promise.resolve();
    let lost = false;
    const record = (key: string | undefined, error?: ItemRecord["error"]) => {
      const rec: ItemRecord = { key, error, ...tally.snapshot(), checkpoint: tally.checkpoint() };
      writes = writes
        .then(async () => {
          if (lost) return;
          const saved = await store.recordItem(tenant, jobId, workerId, rec);
          if (!saved) {
            lost = true; // ended or taken over by someone else: stop, write nothing more
            control.hard.abort();
            return;
          }
          if (saved.state === "CANCELLING") control.stop.abort(); // cancelled through another replica
          bus.publish(jobId, error ? { itemError: toItemError({ ...error, time: new Date() }), sequence: saved.eventSeq } : {});
        })
        .catch((err) => void log.warn("could not save job progress", { job_id: jobId, ...errorFields(err) }));
    };

    const handle = async (event: ConnectorEvent) => {
      const key = event.kind === "item" ? event.item.sourceUri : event.kind === "warning" ? undefined : event.item;
      if (key !== undefined && done.has(key)) return; // handled by an earlier run of this job
      if (event.kind !== "item") {
        tally.connector(event);
        record(key, event.kind === "failed" ? { item: event.item, stage: event.stage, message: event.message } : undefined);
        return;
      }
      tally.read(event.item);
      const outcome = await ingestItem(event.item, ctx);
      if (control.hard.signal.aborted) return; // abandoned at shutdown: the next worker does this item again
      tally.handled(event.item, outcome);
      record(key, outcome.result === "failed" ? { item: event.item.item, stage: outcome.stage, message: outcome.message } : undefined);
      if (outcome.result === "succeeded") this.notifyIngested(tenant, jobId, outcome.document, outcome.created, outcome.chunksIndexed);
    };

    let fatal = "";
    try {
      const signal = AbortSignal.any([control.stop.signal, control.drain.signal, budget]);
      const source = await job.source();
      await forEachBounded(openConnector(source, this.opts.web)(signal), this.opts.itemConcurrency, signal, handle);
    } catch (err) {
      fatal = `reading the source failed: ${describeError(err)}`;
      log.error("job source failed", { tenant, job_id: jobId, ...errorFields(err) });
    }
    await writes;
    if (lost) return;
    if (control.hard.signal.aborted || (control.drain.signal.aborted && !control.stop.signal.aborted)) {
      log.info("job left for the next worker", { tenant, job_id: jobId, items_done: tally.counters.itemsProcessed });
      return;
    }

    const c = tally.counters;
    let state: "SUCCEEDED" | "FAILED" | "CANCELLED" = "SUCCEEDED";
    let error = "";
    if (control.stop.signal.aborted) state = "CANCELLED";
    else if (Date.now() >= deadline) [state, error] = ["FAILED", `the job did not finish within its budget of ${this.opts.jobDeadlineMs} ms (INGESTION_JOB_DEADLINE_MS)`];
    else if (fatal) [state, error] = ["FAILED", fatal];
    else if (c.itemsProcessed > 0 && c.itemsFailed === c.itemsProcessed) [state, error] = ["FAILED", `every item failed (${c.itemsFailed}); the first: ${tally.firstError}`];
    if (state === "SUCCEEDED") c.passesCompleted = 1;
    const { progress, report } = tally.snapshot();
    const ended = await store.finish(tenant, jobId, workerId, { state, error, progress, report });
    bus.publish(jobId);
    if (ended) {
      log.info("job ended", { tenant, job_id: jobId, state: ended.state, items: c.itemsProcessed, failed: c.itemsFailed });
      this.notifyEnded(ended);
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
