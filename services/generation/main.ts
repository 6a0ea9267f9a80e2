import { GenerationServiceService } from "#gen/rag/v1/generation.js";
import { parseEnv } from "#mesh/config.js";
import { serve } from "#mesh/server.js";
import { runService } from "#mesh/service.js";
import { generationEnvSchema, openaiConfigured } from "./config.js";
import { extractiveProvider } from "./extractive.js";
import { generationService } from "./handlers.js";
import { openaiProvider } from "./openai.js";
import type { Provider } from "./provider.js";

await runService("generation", async () => {
  const env = parseEnv(generationEnvSchema);
  const providers = new Map<string, Provider>([["extractive", extractiveProvider()]]);
  if (openaiConfigured(env)) {
    providers.set(
      "openai",
      openaiProvider({
        baseURL: env.OPENAI_BASE_URL,
        apiKey: env.OPENAI_API_KEY,
        defaultModel: env.GENERATION_MODEL,
        contextTokens: env.GENERATION_CONTEXT_TOKENS,
        maxRetries: env.GENERATION_MAX_RETRIES,
      }),
    );
  }
  return { services: [serve(GenerationServiceService, generationService({ defaultProvider: env.GENERATION_PROVIDER, providers }))] };
});
