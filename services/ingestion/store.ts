import { randomUUID } from "node:crypto";
import type pg from "pg";
import { inTransaction } from "#mesh/postgres.js";

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
  /** The user who started the job ('' when unknown). */
  caller_id: string;
  /** Grows with every change a watcher can see; WatchJob's resume point (bigint as text). */
  event_seq: string;
  /** event_seq of the last state change. */
  state_seq: string;
  /** Counters of exactly the items in job_done_items: where a resumed job starts counting from. */
  checkpoint: Checkpoint | null;
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
  /** The job's event_seq when the failure was recorded (bigint as text). */
  event_seq?: string;
}

export interface Checkpoint {
  progress: Counters;
  report: QualityCounts;
  firstError: string;
}

/** One handled event of a running job, written at once: item done, its failure, the counters. */
export interface ItemRecord {
  /** The item's key in job_done_items; undefined for events that are not items (warnings). */
  key?: string;
  error?: Omit<ItemErrorRow, "time" | "event_seq">;
  progress: Counters;
  report: QualityCounts;
  checkpoint: Checkpoint;
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

  /**
   * Inserts a queued job, with the bytes of its uploaded files (kept until it ends, so that another worker
   * can resume it); with a request id already used by the tenant, returns that job instead.
   */
  async insert(tenant: string, job: NewJob, workerId: string, callerId: string, files: Buffer[] = []): Promise<{ row: JobRow; created: boolean }> {
    const inserted = await inTransaction(this.pool, async (client) => {
      const res = await client.query<JobRow>(
        `INSERT INTO jobs (tenant_id, job_id, collection, display_name, source, mode, poll_interval_seconds, tags, metadata,
           quality_options, state, request_id, worker_id, caller_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'QUEUED', $11, $12, $13)
         ON CONFLICT (tenant_id, request_id) WHERE request_id <> '' DO NOTHING
         RETURNING *`,
        [tenant, randomUUID(), job.collection, job.displayName, JSON.stringify(job.source), job.mode, job.pollIntervalSeconds, job.tags,
          JSON.stringify(job.metadata), JSON.stringify(job.qualityOptions), job.requestId, workerId, callerId],
      );
      const row = res.rows[0];
      if (row) {
        for (const [idx, content] of files.entries()) {
          await client.query("INSERT INTO job_files (tenant_id, job_id, idx, content) VALUES ($1, $2, $3, $4)", [tenant, row.job_id, idx, content]);
        }
      }
      return row;
    });
    if (inserted) return { row: inserted, created: true };
    const existing = await this.findByRequestId(tenant, job.requestId);
    if (!existing) throw new Error("request id conflict without an existing job");
    return { row: existing, created: false };
  }

  /** The uploaded files' bytes of an active job, in request order. */
  async files(tenant: string, jobId: string): Promise<Buffer[]> {
    const res = await this.pool.query<{ content: Buffer }>("SELECT content FROM job_files WHERE tenant_id = $1 AND job_id = $2 ORDER BY idx", [tenant, jobId]);
    return res.rows.map((r) => r.content);
  }

  /** Keys of the items a job has handled so far (a resumed job skips them). */
  async doneItems(tenant: string, jobId: string): Promise<Set<string>> {
    const res = await this.pool.query<{ item_key: string }>("SELECT item_key FROM job_done_items WHERE tenant_id = $1 AND job_id = $2", [tenant, jobId]);
    return new Set(res.rows.map((r) => r.item_key));
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

  /** The kept item errors of a job; with `afterEventSeq`, only those recorded after that event. */
  async itemErrors(tenant: string, jobId: string, afterEventSeq?: string): Promise<ItemErrorRow[]> {
    const res = await this.pool.query<ItemErrorRow>(
      `SELECT item, stage, message, time, event_seq FROM job_item_errors WHERE tenant_id = $1 AND job_id = $2 AND event_seq > $3 ORDER BY seq`,
      [tenant, jobId, afterEventSeq ?? "-1"],
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

  /**
   * Takes up a job this worker holds: QUEUED -> RUNNING; a RUNNING or CANCELLING job (resumed after its
   * worker died) keeps its state. Undefined when the job ended meanwhile or is held by another worker.
   */
  async markRunning(tenant: string, jobId: string, workerId: string): Promise<JobRow | undefined> {
    const res = await this.pool.query<JobRow>(
      `UPDATE jobs SET
         state = CASE state WHEN 'QUEUED' THEN 'RUNNING' ELSE state END,
         state_seq = CASE state WHEN 'QUEUED' THEN event_seq + 1 ELSE state_seq END,
         event_seq = CASE state WHEN 'QUEUED' THEN event_seq + 1 ELSE event_seq END,
         start_time = COALESCE(start_time, now()), update_time = now()
       WHERE tenant_id = $1 AND job_id = $2 AND worker_id = $3 AND state IN ${ACTIVE_SQL} RETURNING *`,
      [tenant, jobId, workerId],
    );
    return res.rows[0];
  }

  /**
   * Records one handled event of a running job in one transaction: the item as done, its failure (only the
   * first KEPT_ITEM_ERRORS keep their details), the live counters and the checkpoint. Returns the job's
   * state and event_seq, or undefined when this worker no longer holds the job (it ended, or another
   * worker took it over): the runner then stops.
   */
  async recordItem(tenant: string, jobId: string, workerId: string, rec: ItemRecord): Promise<{ state: StoredState; eventSeq: string } | undefined> {
    return inTransaction(this.pool, async (client) => {
      const res = await client.query<{ state: StoredState; event_seq: string; item_error_count: number }>(
        `UPDATE jobs SET progress = $4, quality_report = $5, checkpoint = $6, event_seq = event_seq + 1,
           item_error_count = item_error_count + $7, update_time = now()
         WHERE tenant_id = $1 AND job_id = $2 AND worker_id = $3 AND state IN ('RUNNING', 'CANCELLING')
         RETURNING state, event_seq, item_error_count`,
        [tenant, jobId, workerId, JSON.stringify(rec.progress), JSON.stringify(rec.report), JSON.stringify(rec.checkpoint), rec.error ? 1 : 0],
      );
      const row = res.rows[0];
      if (!row) return undefined;
      if (rec.key !== undefined) {
        await client.query("INSERT INTO job_done_items (tenant_id, job_id, item_key) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", [tenant, jobId, rec.key]);
      }
      if (rec.error && row.item_error_count <= KEPT_ITEM_ERRORS) {
        await client.query(
          "INSERT INTO job_item_errors (tenant_id, job_id, seq, item, stage, message, event_seq) VALUES ($1, $2, $3, $4, $5, $6, $7)",
          [tenant, jobId, row.item_error_count, rec.error.item, rec.error.stage, rec.error.message, row.event_seq],
        );
      }
      return { state: row.state, eventSeq: row.event_seq };
    });
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
         state_seq = event_seq + 1, event_seq = event_seq + 1, update_time = now()
       WHERE tenant_id = $1 AND job_id = $2 AND state IN ('QUEUED', 'RUNNING') RETURNING *`,
      [tenant, jobId],
    );
    if (res.rows[0]) return { row: res.rows[0], changed: true };
    const row = await this.get(tenant, jobId);
    return row && { row, changed: false };
  }

  /**
   * Ends a running job held by `workerId` and drops what only a resumed run needed (file bytes, done
   * items). A job whose cancel was requested ends CANCELLED whatever the outcome.
   */
  async finish(
    tenant: string,
    jobId: string,
    workerId: string,
    outcome: { state: "SUCCEEDED" | "FAILED" | "CANCELLED"; error: string; progress: Counters; report: QualityCounts },
  ): Promise<JobRow | undefined> {
    return inTransaction(this.pool, async (client) => {
      const res = await client.query<JobRow>(
        `UPDATE jobs SET
           state = CASE state WHEN 'CANCELLING' THEN 'CANCELLED' ELSE $4 END,
           error = CASE WHEN state <> 'CANCELLING' AND $4 = 'FAILED' THEN $5 ELSE '' END,
           progress = $6, quality_report = $7, checkpoint = NULL, end_time = now(), update_time = now(),
           state_seq = event_seq + 1, event_seq = event_seq + 1
         WHERE tenant_id = $1 AND job_id = $2 AND worker_id = $3 AND state IN ('RUNNING', 'CANCELLING') RETURNING *`,
        [tenant, jobId, workerId, outcome.state, outcome.error, JSON.stringify(outcome.progress), JSON.stringify(outcome.report)],
      );
      if (res.rows[0]) await dropRunData(client, tenant, jobId);
      return res.rows[0];
    });
  }

  /** A queued job was cancelled: its file bytes are no longer needed. */
  async dropRunData(tenant: string, jobId: string): Promise<void> {
    await dropRunData(this.pool, tenant, jobId);
  }

  /** Active jobs held by other workers, grouped by worker: candidates for the orphan sweep. */
  async otherActiveWorkers(selfId: string): Promise<string[]> {
    const res = await this.pool.query<{ worker_id: string }>(
      `SELECT DISTINCT worker_id FROM jobs WHERE state IN ${ACTIVE_SQL} AND worker_id <> $1`,
      [selfId],
    );
    return res.rows.map((r) => r.worker_id);
  }

  /**
   * Moves every active job of a dead worker to `selfId`, oldest first, and returns them: this worker
   * resumes them. Atomic per job, so two live workers never both take the same job.
   */
  async adoptWorkerJobs(deadWorkerId: string, selfId: string): Promise<JobRow[]> {
    const res = await this.pool.query<JobRow>(
      `UPDATE jobs SET worker_id = $2, update_time = now() WHERE worker_id = $1 AND state IN ${ACTIVE_SQL} RETURNING *`,
      [deadWorkerId, selfId],
    );
    return res.rows.sort((a, b) => Number(a.seq) - Number(b.seq));
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

async function dropRunData(db: Pick<pg.Pool, "query">, tenant: string, jobId: string): Promise<void> {
  await db.query("DELETE FROM job_files WHERE tenant_id = $1 AND job_id = $2", [tenant, jobId]);
  await db.query("DELETE FROM job_done_items WHERE tenant_id = $1 AND job_id = $2", [tenant, jobId]);
}
