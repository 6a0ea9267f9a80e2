import { z } from "zod";

const ms = z.coerce.number().int().positive();

export const queryEnvSchema = z.object({
  /** Answer cache and submitted-ask results live in Redis when set, so every replica shares them. */
  REDIS_URL: z.string().regex(/^rediss?:\/\//, "expected a redis:// or rediss:// URL").optional(),
  /** How long a cached answer lives. Entries die earlier in effect: a collection write changes the key. */
  ANSWER_CACHE_TTL_MS: ms.default(3_600_000),
  /** How long a submitted ask's record (and result) is kept after each state change. */
  ASK_RESULT_TTL_MS: ms.default(86_400_000),
  /** Budget of one submitted ask from submission to its result, queue wait included. */
  ASK_TIMEOUT_MS: ms.default(120_000),
  /** Submitted asks answered at once by this replica; the rest wait in ASK_STATE_PENDING. */
  ASK_WORKERS: z.coerce.number().int().min(1).max(1000).default(32),
  /** Submitted asks that may wait for a worker on this replica; beyond it SubmitAsk is RESOURCE_EXHAUSTED. */
  ASK_QUEUE_LIMIT: z.coerce.number().int().min(0).default(1000),
  /** Embedding model for questions; empty means the embeddings service's default. Must match ingestion's. */
  QUERY_EMBEDDING_MODEL: z.string().default(""),
});

export type QueryEnv = z.infer<typeof queryEnvSchema>;
