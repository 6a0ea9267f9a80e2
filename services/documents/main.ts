import { DocumentsServiceService } from "#gen/rag/v1/documents.js";
import { parseEnv } from "#mesh/config.js";
import { openDatabase } from "#mesh/postgres.js";
import { serve } from "#mesh/server.js";
import { runService } from "#mesh/service.js";
import { documentsEnvSchema } from "./config.js";
import { documentsService } from "./handlers.js";
import { migrations } from "./migrations.js";
import { DocumentStore } from "./store.js";

await runService("documents", async () => {
  const env = parseEnv(documentsEnvSchema);
  const pool = await openDatabase(env.DATABASE_URL, migrations);
  const store = new DocumentStore(pool);
  return {
    services: [serve(DocumentsServiceService, documentsService(store, { maxDocumentBytes: env.MAX_DOCUMENT_BYTES }, DocumentsServiceService))],
    ready: async () => void (await pool.query("SELECT 1")),
    close: () => pool.end(),
  };
});
