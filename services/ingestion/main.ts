import { IngestionServiceService } from "#gen/rag/v1/ingestion.js";
import { parseEnv } from "#mesh/config.js";
import { errorFields, log } from "#mesh/logger.js";
import { openDatabase } from "#mesh/postgres.js";
import { serve } from "#mesh/server.js";
import { runService } from "#mesh/service.js";
import { JobBus } from "./bus.js";
import { connectClients } from "./clients.js";
import { ingestionEnvSchema } from "./config.js";
import { ingestionService } from "./handlers.js";
import { adoptDeadWorkersJobs, WorkerLease } from "./liveness.js";
import { migrations } from "./migrations.js";
import { EventPublisher } from "#mesh/events.js";
import { JobRunner } from "./runner.js";
import { JobStore } from "./store.js";

await runService("ingestion", async (base, runtime) => {
  const env = parseEnv(ingestionEnvSchema);
  const pool = await openDatabase(env.DATABASE_URL, migrations);
  const lease = await WorkerLease.acquire(env.DATABASE_URL);
  const store = new JobStore(pool);
  const bus = new JobBus();
  const clients = connectClients(runtime);
  const notifier = new EventPublisher(clients.notifications);
  const runner = new JobRunner(
    { store, bus, clients, notifier, workerId: lease.workerId },
    {
      concurrency: env.INGESTION_CONCURRENCY,
      itemConcurrency: env.INGESTION_ITEM_CONCURRENCY,
      maxPendingBytes: env.INGESTION_MAX_PENDING_BYTES,
      callTimeoutMs: env.INGESTION_CALL_TIMEOUT_MS,
      jobDeadlineMs: env.INGESTION_JOB_DEADLINE_MS,
      embedBatch: env.INGESTION_EMBED_BATCH,
      model: env.INGESTION_EMBEDDING_MODEL,
      web: {
        timeoutMs: env.INGESTION_WEB_TIMEOUT_MS,
        maxBytes: env.INGESTION_WEB_MAX_BYTES,
        userAgent: env.INGESTION_WEB_USER_AGENT,
        allowPrivate: env.INGESTION_WEB_ALLOW_PRIVATE,
      },
    },
  );
  const sweep = () => adoptDeadWorkersJobs(store, pool, lease, (row) => runner.resume(row));
  await sweep(); // jobs a stopped process left behind are resumed here
  const sweeper = setInterval(() => void sweep().catch((err) => log.warn("orphan sweep failed", errorFields(err))), env.INGESTION_SWEEP_MS);
  sweeper.unref();

  return {
    services: [
      serve(
        IngestionServiceService,
        ingestionService(store, runner, bus, {
          maxFiles: env.INGESTION_MAX_FILES,
          maxFileBytes: env.INGESTION_MAX_FILE_BYTES,
          maxJobBytes: env.INGESTION_MAX_JOB_BYTES,
          maxActiveJobsPerTenant: env.INGESTION_MAX_ACTIVE_JOBS_PER_TENANT,
          workerId: lease.workerId,
          watchPollMs: env.INGESTION_WATCH_POLL_MS,
        }),
      ),
    ],
    ready: async () => void (await pool.query("SELECT 1")),
    close: async () => {
      clearInterval(sweeper);
      await runner.close(); // leaves its jobs QUEUED/RUNNING for the next worker
      await notifier.drain();
      clients.close();
      await lease.release();
      await pool.end();
    },
  };
});
