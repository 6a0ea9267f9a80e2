import assert from "node:assert/strict";
import { IngestionServiceClient, JobState, StartJobRequest, WatchJobRequest, type Job } from "#gen/rag/v1/ingestion.js";
import type { PromiseClient } from "#mesh/client.js";

const ENDED = new Set([JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED]);

/** `files` (name → text) as one ingestion job into the default collection, followed with WatchJob until it ends. */
export async function ingestFiles(ingestion: PromiseClient<typeof IngestionServiceClient.service>, files: Record<string, string>): Promise<Job> {
  const { job } = await ingestion.startJob(
    StartJobRequest.fromPartial({
      collection: "",
      source: { kind: { $case: "files", value: { files: Object.entries(files).map(([filename, text]) => ({ filename, content: Buffer.from(text) })) } } },
    }),
  );
  assert.ok(job, "StartJob returns the job");
  let last = job;
  if (ENDED.has(last.state)) return last;
  for await (const event of ingestion.watchJob(WatchJobRequest.fromPartial({ jobId: job.jobId }))) {
    if (!event.job) continue;
    last = event.job;
    if (ENDED.has(last.state)) break;
  }
  return last;
}
