import type { IngestionServiceService } from "#gen/rag/v1/ingestion.js";
import { requireTenant } from "#mesh/context.js";
import { InvalidArgumentError, NotFoundError, ResourceExhaustedError } from "#mesh/errors.js";
import type { ServiceImpl } from "#mesh/handlers.js";
import { log } from "#mesh/logger.js";
import { decodePageToken, encodePageToken, PAGE_DEFAULTS, pageSize } from "#mesh/pagination.js";
import { isUuid, requiredId } from "#mesh/rules.js";
import type { JobBus } from "./bus.js";
import { stateFromProto, toJob } from "./convert.js";
import type { JobRunner } from "./runner.js";
import type { JobStore } from "./store.js";
import { validateStartJob, type StartLimits } from "./validate.js";
import { watchJob } from "./watch.js";

type Impl = ServiceImpl<typeof IngestionServiceService>;

export interface IngestionOptions extends StartLimits {
  maxActiveJobsPerTenant: number;
  workerId: string;
  watchPollMs: number;
}

// Job ids are UUIDs (#mesh/rules.ts); anything else cannot name a job, so it is reported as not found.
function jobId(value: string): string {
  return requiredId("job_id", value);
}

export function ingestionService(store: JobStore, runner: JobRunner, bus: JobBus, opts: IngestionOptions): Impl {
  const find = async (tenant: string, id: string) => {
    const row = isUuid(id) ? await store.get(tenant, id) : undefined;
    if (!row) throw new NotFoundError("job", id);
    return row;
  };

  return {
    async startJob(req, ctx) {
      const tenant = requireTenant(ctx);
      const spec = validateStartJob(req, opts);
      const existing = await store.findByRequestId(tenant, spec.requestId);
      if (existing) return { job: toJob(existing) };
      const active = await store.countActive(tenant);
      if (active >= opts.maxActiveJobsPerTenant) {
        throw new ResourceExhaustedError(`tenant ${tenant} already has ${active} jobs queued or running (limit ${opts.maxActiveJobsPerTenant}); wait for one to end`);
      }
      const release = runner.reserve(spec.uploadBytes);
      try {
        const files = spec.fullSource.kind?.$case === "files" ? spec.fullSource.kind.value.files.map((f) => f.content) : [];
        const { row, created } = await store.insert(tenant, spec, opts.workerId, ctx.callerId ?? "", files);
        if (!created) {
          release(); // a concurrent StartJob with the same request id won
          return { job: toJob(row) };
        }
        // The job runs in a context of its own (runner.ts): this call's deadline never applies to it.
        runner.enqueue(tenant, row.job_id, ctx.callerId ?? "", spec, release);
        log.info("job queued", { job_id: row.job_id, source: req.source?.kind?.$case, collection: spec.collection });
        return { job: toJob(row) };
      } catch (err) {
        release();
        throw err;
      }
    },

    async getJob(req, ctx) {
      const tenant = requireTenant(ctx);
      const row = await find(tenant, jobId(req.jobId));
      return { job: toJob(row, await store.itemErrors(tenant, row.job_id)) };
    },

    async listJobs(req, ctx) {
      const tenant = requireTenant(ctx);
      const collection = req.collection.trim();
      const filter = { state: stateFromProto(req.state), collection };
      const limit = pageSize(req.pageSize, PAGE_DEFAULTS);
      const after = decodePageToken<{ seq: string }>(req.pageToken, filter);
      if (after && !/^\d+$/.test(String(after.seq))) throw new InvalidArgumentError("page_token", "malformed; pass next_page_token from the previous response unchanged");
      const { rows, more } = await store.list(tenant, filter, limit, after?.seq);
      return {
        jobs: rows.map((r) => toJob(r)),
        nextPageToken: more ? encodePageToken({ seq: rows[rows.length - 1]!.seq }, filter) : "",
      };
    },

    async cancelJob(req, ctx) {
      const tenant = requireTenant(ctx);
      const id = jobId(req.jobId);
      const row = isUuid(id) ? await runner.cancel(tenant, id) : undefined;
      if (!row) throw new NotFoundError("job", id);
      return { job: toJob(row) };
    },

    async *watchJob(req, ctx) {
      const tenant = requireTenant(ctx);
      const id = jobId(req.jobId);
      if (!isUuid(id)) throw new NotFoundError("job", id);
      if (!/^\d+$/.test(req.afterSequence)) throw new InvalidArgumentError("after_sequence", "must not be negative: pass the `sequence` of the last message received, or 0");
      yield* watchJob(store, bus, tenant, id, ctx.signal, { pollMs: opts.watchPollMs, afterSequence: req.afterSequence });
    },
  };
}
