import { randomUUID } from "node:crypto";
import type pg from "pg";

export type StoredState = "QUEUED" | "RUNNING" | "CANCELLING" | "SUCCEEDED" | "FAILED" | "CANCELLED";
export const ACTIVE_STATES: readonly StoredState[] = ["QUEUED", "RUNNING", "CANCELLING"];
export const isTerminal = (state: StoredState) => !ACTIVE_STATES.includes(state);

/** JobProgress with plain numbers; proto field names. */
export interface Counters {
  itemsDiscovered: number;
  itemsProcessed: number;
  itemsSucceeded: number;
  itemsSkipped: number;
  itemsFailed: number;
  documentsCreated: number;
  documentsUpdated: number;
  chunksIndexed: number;
  bytesRead: number;
  passesCompleted: number;
}

/** DataQualityReport with plain numbers; proto field names. */
export interface QualityCounts {
  itemsChecked: number;
  emptyCount: number;
  duplicateCount: number;
  tooShortCount: number;
  unparseableCount: number;
  warnings: string[];
}

export interface QualitySettings {
  minTextLength: number;
  keepDuplicates: boolean;
}

export interface JobRow {
  tenant_id: string;
  job_id: string;
  seq: string;
  collection: string;
  display_name: string;
  /** JobSource as proto3 JSON, redacted. */
  source: unknown;
  mode: "BATCH" | "STREAMING";
  poll_interval_seconds: number;
  tags: string[];
  metadata: Record<string, string>;
  quality_options: QualitySettings;
  state: StoredState;
  progress: Partial<Counters>;
  quality_report: Partial<QualityCounts>;
  item_error_count: number;
  error: string;
  request_id: string;
  worker_id: string;
  create_time: Date;
  start_time: Date | null;
  update_time: Date;
  end_time: Date | null;
}

export interface ItemErrorRow {
  item: string;
  stage: string;
  message: string;
  time: Date;
}

export interface NewJob {
  collection: string;
  displayName: string;
  source: unknown;
  mode: JobRow["mode"];
  pollIntervalSeconds: number;
  tags: string[];
  metadata: Record<string, string>;
  qualityOptions: QualitySettings;
  requestId: string;
}

export interface JobListFilter {
  state: StoredState | "";
  collection: string;
}

export interface LedgerEntry {
  documentId: string;
  rawHash: string;
  contentHash: string;
  version: string;
}

/** How many item errors a job keeps (the contract's `item_errors` holds the first 100). */
export const KEPT_ITEM_ERRORS = 100;

const ACTIVE_SQL = `('QUEUED', 'RUNNING', 'CANCELLING')`;

/** Jobs, their item errors, and the ledger of ingested items, in Postgres. Every statement names the tenant. */
export class JobStore {
  constructor(private readonly pool: pg.Pool) {}

  /** Inserts a queued job; with a request id already used by the tenant, returns that job instead. */
  async insert(tenant: string, job: NewJob, workerId: string): Promise<{ row: JobRow; created: boolean }> {
    const inserted = await this.pool.query<JobRow>(
      `INSERT INTO jobs (tenant_id, job_id, collection, display_name, source, mode, poll_interval_seconds, tags, metadata,
         quality_options, state, request_id, worker_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'QUEUED', $11, $12)
       ON CONFLICT (tenant_id, request_id) WHERE request_id <> '' DO NOTHING
       RETURNING *`,
      [tenant, randomUUID(), job.collection, job.displayName, JSON.stringify(job.source), job.mode, job.pollIntervalSeconds, job.tags,
        JSON.stringify(job.metadata), JSON.stringify(job.qualityOptions), job.requestId, workerId],
    );
    if (inserted.rows[0]) return { row: inserted.rows[0], created: true };
    const existing = await this.findByRequestId(tenant, job.requestId);
    if (!existing) throw new Error("request id conflict without an existing job");
    return { row: existing, created: false };
  }

  async findByRequestId(tenant: string, requestId: string): Promise<JobRow | undefined> {
    if (requestId === "") return undefined;
    const res = await this.pool.query<JobRow>("SELECT * FROM jobs WHERE tenant_id = $1 AND request_id = $2", [tenant, requestId]);
    return res.rows[0];
  }

  async get(tenant: string, jobId: string): Promise<JobRow | undefined> {
    const res = await this.pool.query<JobRow>("SELECT * FROM jobs WHERE tenant_id = $1 AND job_id = $2", [tenant, jobId]);
    return res.rows[0];
  }

  async itemErrors(tenant: string, jobId: string): Promise<ItemErrorRow[]> {
    const res = await this.pool.query<ItemErrorRow>(
      "SELECT item, stage, message, time FROM job_item_errors WHERE tenant_id = $1 AND job_id = $2 ORDER BY seq",
      [tenant, jobId],
    );
    return res.rows;
  }

  /** Newest first; `afterSeq` continues a previous page. */
  async list(tenant: string, filter: JobListFilter, limit: number, afterSeq?: string): Promise<{ rows: JobRow[]; more: boolean }> {
    const where = ["tenant_id = $1"];
    const args: unknown[] = [tenant];
    const add = (sql: string, value: unknown) => {
      args.push(value);
      where.push(sql.replace("?", `$${args.length}`));
    };
    if (filter.state) add("state = ?", filter.state);
    if (filter.collection) add("collection = ?", filter.collection);
    if (afterSeq !== undefined) add("seq < ?", afterSeq);
    args.push(limit + 1);
    const res = await this.pool.query<JobRow>(`SELECT * FROM jobs WHERE ${where.join(" AND ")} ORDER BY seq DESC LIMIT $${args.length}`, args);
    return { rows: res.rows.slice(0, limit), more: res.rows.length > limit };
  }

  async countActive(tenant: string): Promise<number> {
    const res = await this.pool.query<{ n: string }>(`SELECT count(*) AS n FROM jobs WHERE tenant_id = $1 AND state IN ${ACTIVE_SQL}`, [tenant]);
    return Number(res.rows[0]!.n);
  }

  /** QUEUED -> RUNNING; undefined when the job is no longer queued (cancelled meanwhile, or swept). */
  async markRunning(tenant: string, jobId: string): Promise<JobRow | undefined> {
    const res = await this.pool.query<JobRow>(
      `UPDATE jobs SET state = 'RUNNING', start_time = now(), update_time = now()
       WHERE tenant_id = $1 AND job_id = $2 AND state = 'QUEUED' RETURNING *`,
      [tenant, jobId],
    );
    return res.rows[0];
  }

  /** Saves counters; returns the job's state, so a runner learns of a cancel made through another replica. */
  async saveProgress(tenant: string, jobId: string, progress: Counters, report: QualityCounts): Promise<StoredState | undefined> {
    const res = await this.pool.query<{ state: StoredState }>(
      `UPDATE jobs SET progress = $3, quality_report = $4, update_time = now()
       WHERE tenant_id = $1 AND job_id = $2 AND state IN ('RUNNING', 'CANCELLING') RETURNING state`,
      [tenant, jobId, JSON.stringify(progress), JSON.stringify(report)],
    );
    return res.rows[0]?.state;
  }

  /** Counts an item failure; keeps its details only for the first KEPT_ITEM_ERRORS. */
  async addItemError(tenant: string, jobId: string, error: Omit<ItemErrorRow, "time">): Promise<void> {
    await this.pool.query(
      `WITH counted AS (
         UPDATE jobs SET item_error_count = item_error_count + 1, update_time = now()
         WHERE tenant_id = $1 AND job_id = $2 RETURNING item_error_count)
       INSERT INTO job_item_errors (tenant_id, job_id, seq, item, stage, message)
       SELECT $1, $2, item_error_count, $3, $4, $5 FROM counted WHERE item_error_count <= $6`,
      [tenant, jobId, error.item, error.stage, error.message, KEPT_ITEM_ERRORS],
    );
  }

  /**
   * CancelJob: a queued job ends at once, a running one moves to CANCELLING (its runner finishes it). A job
   * in any other state is returned unchanged.
   */
  async requestCancel(tenant: string, jobId: string): Promise<{ row: JobRow; changed: boolean } | undefined> {
    const res = await this.pool.query<JobRow>(
      `UPDATE jobs SET
         state = CASE state WHEN 'QUEUED' THEN 'CANCELLED' ELSE 'CANCELLING' END,
         end_time = CASE state WHEN 'QUEUED' THEN now() ELSE end_time END,
         update_time = now()
       WHERE tenant_id = $1 AND job_id = $2 AND state IN ('QUEUED', 'RUNNING') RETURNING *`,
      [tenant, jobId],
    );
    if (res.rows[0]) return { row: res.rows[0], changed: true };
    const row = await this.get(tenant, jobId);
    return row && { row, changed: false };
  }

  /** Ends a running job. A job whose cancel was requested ends CANCELLED whatever the outcome. */
  async finish(
    tenant: string,
    jobId: string,
    outcome: { state: "SUCCEEDED" | "FAILED" | "CANCELLED"; error: string; progress: Counters; report: QualityCounts },
  ): Promise<JobRow | undefined> {
    const res = await this.pool.query<JobRow>(
      `UPDATE jobs SET
         state = CASE state WHEN 'CANCELLING' THEN 'CANCELLED' ELSE $3 END,
         error = CASE WHEN state <> 'CANCELLING' AND $3 = 'FAILED' THEN $4 ELSE '' END,
         progress = $5, quality_report = $6, end_time = now(), update_time = now()
       WHERE tenant_id = $1 AND job_id = $2 AND state IN ('RUNNING', 'CANCELLING') RETURNING *`,
      [tenant, jobId, outcome.state, outcome.error, JSON.stringify(outcome.progress), JSON.stringify(outcome.report)],
    );
    return res.rows[0];
  }

  /** Active jobs held by other workers, grouped by worker: candidates for the orphan sweep. */
  async otherActiveWorkers(selfId: string): Promise<string[]> {
    const res = await this.pool.query<{ worker_id: string }>(
      `SELECT DISTINCT worker_id FROM jobs WHERE state IN ${ACTIVE_SQL} AND worker_id <> $1`,
      [selfId],
    );
    return res.rows.map((r) => r.worker_id);
  }

  /** Marks every active job of the given worker FAILED with `reason`; returns them. */
  async failWorkerJobs(workerId: string, reason: string): Promise<JobRow[]> {
    const res = await this.pool.query<JobRow>(
      `UPDATE jobs SET state = 'FAILED', error = $2, end_time = now(), update_time = now()
       WHERE worker_id = $1 AND state IN ${ACTIVE_SQL} RETURNING *`,
      [workerId, reason],
    );
    return res.rows;
  }

  async ledger(tenant: string, collection: string, sourceUri: string): Promise<LedgerEntry | undefined> {
    const res = await this.pool.query<{ document_id: string; raw_hash: string; content_hash: string; version: string }>(
      "SELECT document_id, raw_hash, content_hash, version FROM ingested_items WHERE tenant_id = $1 AND collection = $2 AND source_uri = $3",
      [tenant, collection, sourceUri],
    );
    const r = res.rows[0];
    return r && { documentId: r.document_id, rawHash: r.raw_hash, contentHash: r.content_hash, version: String(r.version) };
  }

  async recordIngested(tenant: string, collection: string, sourceUri: string, entry: LedgerEntry): Promise<void> {
    await this.pool.query(
      `INSERT INTO ingested_items (tenant_id, collection, source_uri, document_id, raw_hash, content_hash, version)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (tenant_id, collection, source_uri) DO UPDATE SET
         document_id = EXCLUDED.document_id, raw_hash = EXCLUDED.raw_hash, content_hash = EXCLUDED.content_hash,
         version = EXCLUDED.version, update_time = now()`,
      [tenant, collection, sourceUri, entry.documentId, entry.rawHash, entry.contentHash, entry.version],
    );
  }
}
