import {
  IngestionMode,
  IngestionStage,
  JobSource,
  JobState,
  type Job,
  type JobItemError,
} from "#gen/rag/v1/ingestion.js";
import { InvalidArgumentError } from "#mesh/errors.js";
import { KEPT_ITEM_ERRORS, type Counters, type ItemErrorRow, type JobRow, type QualityCounts, type StoredState } from "./store.js";

const STATE_TO_PROTO: Record<StoredState, JobState> = {
  QUEUED: JobState.JOB_STATE_QUEUED,
  RUNNING: JobState.JOB_STATE_RUNNING,
  CANCELLING: JobState.JOB_STATE_CANCELLING,
  SUCCEEDED: JobState.JOB_STATE_SUCCEEDED,
  FAILED: JobState.JOB_STATE_FAILED,
  CANCELLED: JobState.JOB_STATE_CANCELLED,
};

export type StageName = "FETCH" | "PARSE" | "VALIDATE" | "STORE" | "EMBED" | "INDEX";

const STAGE_TO_PROTO: Record<StageName, IngestionStage> = {
  FETCH: IngestionStage.INGESTION_STAGE_FETCH,
  PARSE: IngestionStage.INGESTION_STAGE_PARSE,
  VALIDATE: IngestionStage.INGESTION_STAGE_VALIDATE,
  STORE: IngestionStage.INGESTION_STAGE_STORE,
  EMBED: IngestionStage.INGESTION_STAGE_EMBED,
  INDEX: IngestionStage.INGESTION_STAGE_INDEX,
};

export function stateFromProto(state: JobState): StoredState | "" {
  if (state === JobState.JOB_STATE_UNSPECIFIED) return "";
  const found = (Object.entries(STATE_TO_PROTO) as [StoredState, JobState][]).find(([, v]) => v === state);
  if (!found) throw new InvalidArgumentError("state", `unknown job state ${state}`);
  return found[0];
}

export function toItemError(row: ItemErrorRow): JobItemError {
  return {
    item: row.item,
    stage: STAGE_TO_PROTO[row.stage as StageName] ?? IngestionStage.INGESTION_STAGE_UNSPECIFIED,
    message: row.message,
    time: row.time,
  };
}

const count = (n: number | undefined) => String(n ?? 0);

export function toProgress(p: Partial<Counters>) {
  return {
    itemsDiscovered: count(p.itemsDiscovered),
    itemsProcessed: count(p.itemsProcessed),
    itemsSucceeded: count(p.itemsSucceeded),
    itemsSkipped: count(p.itemsSkipped),
    itemsFailed: count(p.itemsFailed),
    documentsCreated: count(p.documentsCreated),
    documentsUpdated: count(p.documentsUpdated),
    chunksIndexed: count(p.chunksIndexed),
    bytesRead: count(p.bytesRead),
    passesCompleted: count(p.passesCompleted),
  };
}

export function toQualityReport(q: Partial<QualityCounts>) {
  return {
    itemsChecked: count(q.itemsChecked),
    emptyCount: count(q.emptyCount),
    duplicateCount: count(q.duplicateCount),
    tooShortCount: count(q.tooShortCount),
    unparseableCount: count(q.unparseableCount),
    warnings: q.warnings ?? [],
  };
}

/** The API's view of a stored job; `errors` only where the contract shows them (GetJob, snapshots). */
export function toJob(row: JobRow, errors: ItemErrorRow[] = []): Job {
  return {
    jobId: row.job_id,
    tenantId: row.tenant_id,
    collection: row.collection,
    displayName: row.display_name,
    source: JobSource.fromJSON(row.source),
    mode: row.mode === "STREAMING" ? IngestionMode.INGESTION_MODE_STREAMING : IngestionMode.INGESTION_MODE_BATCH,
    pollIntervalSeconds: row.poll_interval_seconds,
    tags: row.tags,
    metadata: row.metadata,
    qualityOptions: { minTextLength: row.quality_options.minTextLength, keepDuplicates: row.quality_options.keepDuplicates },
    state: STATE_TO_PROTO[row.state],
    progress: toProgress(row.progress),
    qualityReport: toQualityReport(row.quality_report),
    itemErrors: errors.map(toItemError),
    // Only the first KEPT_ITEM_ERRORS are stored: that is the list GetJob can show.
    itemErrorsTruncated: row.item_error_count > KEPT_ITEM_ERRORS,
    error: row.error,
    requestId: row.request_id,
    createTime: row.create_time,
    startTime: row.start_time ?? undefined,
    updateTime: row.update_time,
    endTime: row.end_time ?? undefined,
  };
}
