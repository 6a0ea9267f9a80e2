import { IdentityServiceClient } from "#gen/rag/v1/identity.js";
import { QueryServiceService } from "#gen/rag/v1/query.js";
import { createCache } from "#mesh/cache.js";
import { parseEnv } from "#mesh/config.js";
import { serve } from "#mesh/server.js";
import { runService } from "#mesh/service.js";
import { AnswerCache } from "./answer-cache.js";
import { AskRecords } from "./ask-records.js";
import { Asker } from "./asker.js";
import { BackgroundAsks } from "./background-asks.js";
import { queryEnvSchema } from "./config.js";
import { connectDependencies } from "./dependencies.js";
import { queryService } from "./handlers.js";
import { QueryHistory } from "./history.js";

await runService("query", async (_base, runtime) => {
  const env = parseEnv(queryEnvSchema);
  const deps = connectDependencies(runtime);
  // Two namespaces: a burst of cached answers must not evict submitted asks' results from the in-process LRU.
  const answers = createCache({ namespace: "rag:query:answers:", redisUrl: env.REDIS_URL });
  const asks = createCache({ namespace: "rag:query:asks:", redisUrl: env.REDIS_URL });
  const answerCache = new AnswerCache(answers, deps.retrieval, { ttlMs: env.ANSWER_CACHE_TTL_MS, embeddingModel: env.QUERY_EMBEDDING_MODEL });
  const asker = new Asker(deps, answerCache, { embeddingModel: env.QUERY_EMBEDDING_MODEL });
  const records = new AskRecords(asks, env.ASK_RESULT_TTL_MS);
  const identity = runtime.connect(IdentityServiceClient, "identity");
  const history = new QueryHistory(identity);
  const background = new BackgroundAsks(asker, records, { workers: env.ASK_WORKERS, queueLimit: env.ASK_QUEUE_LIMIT, timeoutMs: env.ASK_TIMEOUT_MS }, history);
  return {
    services: [serve(QueryServiceService, queryService(asker, background, records, history))],
    close: async () => {
      await background.close();
      deps.close();
      identity.close();
      await Promise.all([answers.close(), asks.close()]);
    },
  };
});
