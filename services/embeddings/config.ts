import { z } from "zod";
import { DEFAULT_DIMENSIONS, localModelName } from "./providers/local.js";

const positiveInt = z.coerce.number().int().positive();
const DAY_MS = 24 * 3600_000;

export const embeddingsEnvSchema = z
  .object({
    /** Who computes vectors: the built-in hashed embedder, or an OpenAI-compatible `/embeddings` endpoint. */
    EMBEDDINGS_PROVIDER: z.enum(["local", "openai"]).default("local"),
    /** openai: the model to request (required). local: fixed by the dimensions; may be left unset. */
    EMBEDDINGS_MODEL: z.string().trim().min(1).optional(),
    /** local: vector length (default 512). openai: sent as `dimensions` and enforced; unset: the model's own. */
    EMBEDDINGS_DIMENSIONS: positiveInt.min(2).max(8192).optional(),
    /** Texts per provider request (openai), or per slice of CPU work between event-loop turns (local). */
    EMBEDDINGS_BATCH_SIZE: positiveInt.max(2048).default(64),
    /** openai: requests in flight at once for one call. */
    EMBEDDINGS_CONCURRENCY: positiveInt.max(32).default(2),
    /** openai: retries of one request on 429, 5xx and network errors (backoff with jitter, Retry-After). */
    EMBEDDINGS_MAX_RETRIES: z.coerce.number().int().min(0).max(10).default(3),
    /** openai: bound on one HTTP attempt. The call's own deadline still applies on top. */
    EMBEDDINGS_TIMEOUT_MS: positiveInt.default(30_000),
    /** openai: prefixes for asymmetric models that expect them (E5: "query: " / "passage: "). */
    EMBEDDINGS_QUERY_PREFIX: z.string().optional(),
    EMBEDDINGS_DOCUMENT_PREFIX: z.string().optional(),
    /** Most texts in one request (the contract allows up to 2048). */
    EMBEDDINGS_MAX_TEXTS: positiveInt.max(2048).default(2048),
    /** Longest text accepted, in characters: chunk documents before embedding them. */
    EMBEDDINGS_MAX_TEXT_CHARS: positiveInt.default(32_768),
    /** How long a cached vector lives; 0 turns the cache off. */
    EMBEDDINGS_CACHE_TTL_MS: z.coerce.number().int().min(0).default(7 * DAY_MS),
    /** In-process cache bound (when REDIS_URL is unset). */
    EMBEDDINGS_CACHE_MAX_MB: positiveInt.default(64),
    OPENAI_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
    OPENAI_API_KEY: z.string().optional(),
    REDIS_URL: z.string().regex(/^rediss?:\/\//, "expected a redis:// or rediss:// URL").optional(),
  })
  .superRefine((env, ctx) => {
    if (env.EMBEDDINGS_PROVIDER === "openai") {
      if (!env.OPENAI_BASE_URL) ctx.addIssue({ code: "custom", path: ["OPENAI_BASE_URL"], message: "required when EMBEDDINGS_PROVIDER=openai" });
      if (!env.EMBEDDINGS_MODEL) ctx.addIssue({ code: "custom", path: ["EMBEDDINGS_MODEL"], message: "required when EMBEDDINGS_PROVIDER=openai" });
      return;
    }
    const model = localModelName(env.EMBEDDINGS_DIMENSIONS ?? DEFAULT_DIMENSIONS);
    if (env.EMBEDDINGS_MODEL !== undefined && env.EMBEDDINGS_MODEL !== model) {
      ctx.addIssue({ code: "custom", path: ["EMBEDDINGS_MODEL"], message: `the local provider's model is ${model} (set by EMBEDDINGS_DIMENSIONS); leave it unset` });
    }
  });

export type EmbeddingsEnv = z.infer<typeof embeddingsEnvSchema>;
