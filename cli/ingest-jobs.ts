import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { status } from "@grpc/grpc-js";
import {
  GetJobRequest,
  IngestionServiceClient,
  JobEventType,
  JobState,
  StartJobRequest,
  WatchJobRequest,
  type Job,
  type UploadedFile,
  type WatchJobResponse,
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

export interface FollowOptions {
  /** Deadline of each WatchJob call; when it passes the watch simply resumes (a job may run for hours). */
  callDeadlineMs?: number;
  /** Reconnection backoff after a dropped stream: doubles from `initialBackoffMs` up to `maxBackoffMs`, with jitter. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Give up after failing to reach the service for this long in a row. */
  giveUpAfterMs?: number;
  /** Told of each reconnection (the CLI says nothing; tests count them). */
  onReconnect?: (err: unknown, attempt: number) => void;
}

const FOLLOW_DEFAULTS = { callDeadlineMs: 3_600_000, initialBackoffMs: 200, maxBackoffMs: 10_000, giveUpAfterMs: 5 * 60_000 };

/**
 * Whether a watch that failed with `err` may simply be resumed: the connection or the stream was lost
 * (connection ageing, a restarted or draining service, our own per-call deadline), not refused.
 */
export function isResumable(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  if (code === status.UNAVAILABLE || code === status.DEADLINE_EXCEEDED || code === status.CANCELLED) return true;
  // INTERNAL/UNKNOWN made up by grpc-js for a broken stream (RST_STREAM, GOAWAY); the mesh client keeps
  // the transport's status as `cause`. One sent by the service itself has no cause.
  return (code === status.INTERNAL || code === status.UNKNOWN) && (err as { cause?: unknown }).cause !== undefined;
}

/**
 * Follows a job with WatchJob until it ends, whatever happens to the streams: a stream cut by connection
 * ageing, a restart or a deadline is resumed after the last event seen (`after_sequence`), with backoff,
 * so `onEvent` sees every event once. Errors other than a lost connection (NOT_FOUND, PERMISSION_DENIED)
 * are thrown, as is a service unreachable for `giveUpAfterMs`.
 */
export async function followJob(client: IngestionClient, job: Job, onEvent: (event: WatchJobResponse) => void, options: FollowOptions = {}): Promise<Job> {
  const opts = { ...FOLLOW_DEFAULTS, ...options };
  let last = job;
  let after = "0";
  let attempt = 0;
  let failingSince: number | undefined;
  for (;;) {
    if (isEnded(last)) return last;
    try {
      for await (const event of client.watchJob(WatchJobRequest.fromPartial({ jobId: job.jobId, afterSequence: after }), { deadlineMs: opts.callDeadlineMs })) {
        [attempt, failingSince] = [0, undefined];
        if (event.sequence !== "0" && event.sequence !== "") after = event.sequence;
        if (event.job) last = event.job;
        onEvent(event);
        if (isEnded(last)) return last;
      }
      // The stream ended without a terminal message: the job ended before the resume point. Read it.
      const { job: now } = await client.getJob(GetJobRequest.fromPartial({ jobId: job.jobId }));
      if (now && isEnded(now)) {
        last = now;
        onEvent({ eventType: JobEventType.JOB_EVENT_TYPE_STATE_CHANGED, job: now, itemError: undefined, sequence: after });
      }
    } catch (err) {
      if (!isResumable(err)) throw err;
      failingSince ??= Date.now();
      if (Date.now() - failingSince > opts.giveUpAfterMs) throw err;
      attempt++;
      opts.onReconnect?.(err, attempt);
      // Our own per-call deadline: resume at once. A lost connection: back off, so a restarting service is not hammered.
      if ((err as { code?: unknown }).code !== status.DEADLINE_EXCEEDED) {
        const ceiling = Math.min(opts.maxBackoffMs, opts.initialBackoffMs * 2 ** (attempt - 1));
        await sleep(ceiling / 2 + Math.random() * (ceiling / 2));
      }
    }
  }
}

/** Starts a job and follows it until it ends (see followJob); `onUpdate` sees the job after every event. */
export async function runJob(client: IngestionClient, request: StartJobRequest, onUpdate: (job: Job) => void, options: FollowOptions = {}): Promise<Job> {
  const job = await startOnce(client, request, options);
  if (!job) throw new Error("ingestion returned no job");
  onUpdate(job);
  return followJob(client, job, (event) => event.job && onUpdate(event.job), options);
}

/**
 * StartJob, retried while the service is unreachable: the request carries a request id (one is made when
 * none is given), so a retry after a lost response returns the job already started instead of a second one.
 */
async function startOnce(client: IngestionClient, request: StartJobRequest, options: FollowOptions): Promise<Job | undefined> {
  const opts = { ...FOLLOW_DEFAULTS, ...options };
  const req = request.requestId ? request : { ...request, requestId: randomUUID() };
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return (await client.startJob(req)).job;
    } catch (err) {
      if ((err as { code?: unknown }).code !== status.UNAVAILABLE || Date.now() - started > opts.giveUpAfterMs) throw err;
      opts.onReconnect?.(err, attempt);
      await sleep(Math.min(opts.maxBackoffMs, opts.initialBackoffMs * 2 ** (attempt - 1)));
    }
  }
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
