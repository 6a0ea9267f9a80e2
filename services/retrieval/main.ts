import { RetrievalServiceService } from "#gen/rag/v1/retrieval.js";
import { parseEnv } from "#mesh/config.js";
import { log } from "#mesh/logger.js";
import { serve } from "#mesh/server.js";
import { runService } from "#mesh/service.js";
import type { VectorBackend } from "./backend.js";
import { fusionParams, lanceDataDir, retrievalEnvSchema } from "./config.js";
import { retrievalService } from "./handlers.js";
import { LanceBackend } from "./lancedb/backend.js";
import { QdrantBackend } from "./qdrant/backend.js";

await runService("retrieval", async () => {
  const env = parseEnv(retrievalEnvSchema);
  let backend: VectorBackend;
  if (env.QDRANT_URL) {
    backend = await QdrantBackend.open({ url: env.QDRANT_URL, apiKey: env.QDRANT_API_KEY, prefix: env.QDRANT_COLLECTION_PREFIX, timeoutMs: env.QDRANT_TIMEOUT_MS });
  } else {
    backend = await LanceBackend.open({ dir: await lanceDataDir(env) });
  }
  log.info("vector backend ready", { backend: backend.kind });
  return {
    services: [serve(RetrievalServiceService, retrievalService(backend, { candidates: env.RETRIEVAL_CANDIDATES, fusion: fusionParams(env) }))],
    ready: () => backend.ready(),
    close: () => backend.close(),
  };
});
