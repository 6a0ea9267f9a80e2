import { DocumentsServiceService } from "#gen/rag/v1/documents.js";
import { NotificationsServiceClient } from "#gen/rag/v1/notifications.js";
import { RetrievalServiceClient } from "#gen/rag/v1/retrieval.js";
import { parseEnv } from "#mesh/config.js";
import { EventPublisher } from "#mesh/events.js";
import { openDatabase } from "#mesh/postgres.js";
import { serve } from "#mesh/server.js";
import { runService } from "#mesh/service.js";
import { documentsEnvSchema, parseLimits } from "./config.js";
import { documentsService } from "./handlers.js";
import { migrations } from "./migrations.js";
import { IsolatedParser } from "./parsing/isolated.js";
import { retrievalIndex } from "./search-index.js";
import { DocumentStore } from "./store.js";

await runService("documents", async (_base, runtime) => {
  const env = parseEnv(documentsEnvSchema);
  const pool = await openDatabase(env.DATABASE_URL, migrations);
  const retrieval = runtime.connect(RetrievalServiceClient, "retrieval");
  const notifications = runtime.connect(NotificationsServiceClient, "notifications");
  const events = new EventPublisher(notifications);
  const parser = new IsolatedParser({
    workers: env.PARSE_WORKERS,
    queue: env.PARSE_QUEUE,
    timeoutMs: env.PARSE_TIMEOUT_MS,
    maxMemoryMb: env.PARSE_MAX_MEMORY_MB,
    limits: parseLimits(env),
  });
  const impl = documentsService({
    events,
    store: new DocumentStore(pool),
    index: retrievalIndex(retrieval),
    maxDocumentBytes: env.MAX_DOCUMENT_BYTES,
    parser,
    chunking: { size: env.CHUNK_SIZE, overlap: env.CHUNK_OVERLAP },
  });
  return {
    services: [serve(DocumentsServiceService, impl)],
    ready: async () => void (await pool.query("SELECT 1")),
    close: async () => {
      // After the server has drained: no call is waiting for a parse any more.
      await parser.close();
      await events.drain();
      notifications.close();
      retrieval.close();
      await pool.end();
    },
  };
});
