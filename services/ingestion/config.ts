import { z } from "zod";

const count = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const MiB = 1024 * 1024;

export const ingestionEnvSchema = z.object({
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, "expected a postgres:// connection URL"),
  /** Jobs this process runs at once; further jobs wait in JOB_STATE_QUEUED. */
  INGESTION_CONCURRENCY: count(1, 64).default(2),
  /** Items of one job in flight at once (store, embed, index). */
  INGESTION_ITEM_CONCURRENCY: count(1, 64).default(4),
  /** Jobs a tenant may have queued or running at once; StartJob answers RESOURCE_EXHAUSTED beyond. */
  INGESTION_MAX_ACTIVE_JOBS_PER_TENANT: count(1, 10_000).default(20),
  /** Upload bytes held in memory by queued and running files jobs of this process; beyond, RESOURCE_EXHAUSTED. */
  INGESTION_MAX_PENDING_BYTES: count(1, 2 ** 40).default(512 * MiB),
  /** Files per files job (the contract allows at most 1000). */
  INGESTION_MAX_FILES: count(1, 1000).default(1000),
  /** Largest single uploaded file. */
  INGESTION_MAX_FILE_BYTES: count(1, 2 ** 40).default(10 * MiB),
  /** Largest sum of uploaded file sizes in one job (the gRPC message limit caps it at 64 MiB anyway). */
  INGESTION_MAX_JOB_BYTES: count(1, 2 ** 40).default(64 * MiB),
  /** Texts per Embed call; each batch becomes one Upsert. */
  INGESTION_EMBED_BATCH: count(1, 1000).default(64),
  /** Embedding model; empty means the embeddings service's default. */
  INGESTION_EMBEDDING_MODEL: z.string().default(""),
  /** Budget of each call to documents, embeddings and retrieval made by a running job. */
  INGESTION_CALL_TIMEOUT_MS: count(100, 3_600_000).default(60_000),
  /** Web connector: time limit of one page fetch (connect, redirects and body). */
  INGESTION_WEB_TIMEOUT_MS: count(100, 600_000).default(15_000),
  /** Web connector: largest page or file body read. */
  INGESTION_WEB_MAX_BYTES: count(1, 2 ** 40).default(10 * MiB),
  /** Web connector: User-Agent sent, and the token matched against robots.txt groups. */
  INGESTION_WEB_USER_AGENT: z.string().min(1).default("RagMeshBot/0.1"),
  /**
   * Web connector: allow URLs whose host resolves to loopback, private or link-local addresses. Off by
   * default so a tenant cannot make the service read internal endpoints (cloud metadata, admin ports).
   */
  INGESTION_WEB_ALLOW_PRIVATE: z.stringbool().default(false),
  /**
   * A job's own budget, counted from its first start (a resumed job keeps it). No request's deadline
   * applies to a job: StartJob returns at once and the job runs on until it ends or this budget is spent.
   */
  INGESTION_JOB_DEADLINE_MS: count(1_000, 2 ** 31 - 1).default(24 * 3_600_000),
  /** How often to look for jobs whose worker process died (this process takes them over and resumes them). */
  INGESTION_SWEEP_MS: count(100, 3_600_000).default(30_000),
  /** WatchJob re-reads the job at least this often, to see changes made by another replica. */
  INGESTION_WATCH_POLL_MS: count(50, 60_000).default(2_000),
});

export type IngestionEnv = z.infer<typeof ingestionEnvSchema>;
