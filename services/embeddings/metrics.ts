import client from "prom-client";
import { registry } from "#mesh/metrics.js";

/** Texts answered from the cache or sent to the provider: the cache's hit rate, per provider and model. */
export const textsEmbedded = new client.Counter({
  name: "embeddings_texts_total",
  help: "Texts embedded, by where the vector came from (cache or provider).",
  labelNames: ["provider", "model", "source"] as const,
  registers: [registry],
});

/** What the provider billed (or, for the local embedder, the words it read). */
export const providerTokens = new client.Counter({
  name: "embeddings_provider_tokens_total",
  help: "Input tokens sent to the embedding provider.",
  labelNames: ["provider", "model"] as const,
  registers: [registry],
});
