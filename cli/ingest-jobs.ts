import {
  IngestionServiceClient,
  JobState,
  StartJobRequest,
  WatchJobRequest,
  type Job,
  type UploadedFile,
} from "#gen/rag/v1/ingestion.js";
import type { PromiseClient } from "#mesh/client.js";

export type IngestionClient = PromiseClient<typeof IngestionServiceClient.service>;

/** Batches stay well under the gRPC message limit and give the progress bar something to show. */
export const MAX_BATCH_BYTES = 16 * 1024 * 1024;
export const MAX_BATCH_FILES = 500;

const ENDED = new Set([JobState.JOB_STATE_SUCCEEDED, JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED]);

export function isEnded(job: Job): boolean {
  return ENDED.has(job.state);
}

/** Splits files into batches of at most MAX_BATCH_FILES files and MAX_BATCH_BYTES bytes. */
export function batchFiles(files: UploadedFile[]): UploadedFile[][] {
  const batches: UploadedFile[][] = [];
  let current: UploadedFile[] = [];
  let bytes = 0;
  for (const file of files) {
    if (current.length > 0 && (current.length >= MAX_BATCH_FILES || bytes + file.content.length > MAX_BATCH_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(file);
    bytes += file.content.length;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

export interface JobOptions {
  collection?: string;
  tags?: string[];
  displayName?: string;
}

/** Starts a job and follows it with WatchJob until it ends; `onUpdate` sees every snapshot. */
export async function runJob(client: IngestionClient, request: StartJobRequest, onUpdate: (job: Job) => void, deadlineMs = 3_600_000): Promise<Job> {
  const { job } = await client.startJob(request);
  if (!job) throw new Error("ingestion returned no job");
  onUpdate(job);
  if (isEnded(job)) return job;
  let last = job;
  for await (const event of client.watchJob(WatchJobRequest.fromPartial({ jobId: job.jobId }), { deadlineMs })) {
    if (!event.job) continue;
    last = event.job;
    onUpdate(last);
    if (isEnded(last)) break;
  }
  return last;
}

/** Ingests files as consecutive jobs (one per batch); `onUpdate` gets the batch index and its job. */
export async function ingestFiles(client: IngestionClient, files: UploadedFile[], opts: JobOptions, onUpdate: (batch: number, job: Job) => void): Promise<Job[]> {
  const jobs: Job[] = [];
  const batches = batchFiles(files);
  for (const [i, batch] of batches.entries()) {
    const request = StartJobRequest.fromPartial({
      collection: opts.collection ?? "",
      displayName: opts.displayName ? `${opts.displayName}${batches.length > 1 ? ` (${i + 1}/${batches.length})` : ""}` : "",
      tags: opts.tags ?? [],
      source: { kind: { $case: "files", value: { files: batch } } },
    });
    jobs.push(await runJob(client, request, (job) => onUpdate(i, job)));
  }
  return jobs;
}
