import { EmbeddingsServiceService } from "#gen/rag/v1/embeddings.js";
import { createCache } from "#mesh/cache.js";
import { parseEnv } from "#mesh/config.js";
import { log } from "#mesh/logger.js";
import { serve } from "#mesh/server.js";
import { runService } from "#mesh/service.js";
import { embeddingsEnvSchema } from "./config.js";
import { embeddingsService } from "./handlers.js";
import { createProvider } from "./providers/index.js";
import { VectorCache } from "./vector-cache.js";

await runService("embeddings", async () => {
  const env = parseEnv(embeddingsEnvSchema);
  const provider = createProvider(env);
  const store =
    env.EMBEDDINGS_CACHE_TTL_MS > 0
      ? createCache({ namespace: "rag:embeddings:", redisUrl: env.REDIS_URL, maxChars: env.EMBEDDINGS_CACHE_MAX_MB * 1024 * 1024 })
      : undefined;
  const cache = new VectorCache(store, env.EMBEDDINGS_CACHE_TTL_MS);
  log.info("embedding provider", { provider: provider.name, model: provider.model, dimensions: provider.dimensions, cache: store?.kind ?? "off" });
  return {
    services: [
      serve(
        EmbeddingsServiceService,
        embeddingsService({ provider, cache, limits: { maxTexts: env.EMBEDDINGS_MAX_TEXTS, maxTextChars: env.EMBEDDINGS_MAX_TEXT_CHARS } }),
      ),
    ],
    close: () => cache.close(),
  };
});
