import type { EmbeddingsEnv } from "../config.js";
import { DEFAULT_DIMENSIONS } from "./local.js";
import { LocalProvider } from "./local-provider.js";
import { OpenAIProvider } from "./openai.js";
import type { EmbeddingProvider } from "./provider.js";

/** The provider the configuration selects (the schema has already checked what each one needs). */
export function createProvider(env: EmbeddingsEnv): EmbeddingProvider {
  if (env.EMBEDDINGS_PROVIDER === "local") return new LocalProvider(env.EMBEDDINGS_DIMENSIONS ?? DEFAULT_DIMENSIONS, env.EMBEDDINGS_BATCH_SIZE);
  return new OpenAIProvider({
    baseURL: env.OPENAI_BASE_URL!,
    apiKey: env.OPENAI_API_KEY,
    model: env.EMBEDDINGS_MODEL!,
    dimensions: env.EMBEDDINGS_DIMENSIONS,
    batchSize: env.EMBEDDINGS_BATCH_SIZE,
    concurrency: env.EMBEDDINGS_CONCURRENCY,
    maxRetries: env.EMBEDDINGS_MAX_RETRIES,
    timeoutMs: env.EMBEDDINGS_TIMEOUT_MS,
    queryPrefix: env.EMBEDDINGS_QUERY_PREFIX,
    documentPrefix: env.EMBEDDINGS_DOCUMENT_PREFIX,
  });
}
