import { constants } from "node:fs";
import { access, mkdir } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { ConfigError } from "#mesh/config.js";
import type { FusionParams } from "./backend.js";

/**
 * Fusion defaults, chosen on the tuning sample of bench/retrieval-quality.ts (SQuAD v1.1 dev) and checked
 * on its separate evaluation sample. They suit the embedded stack, whose local hashed embedder is far
 * weaker than BM25 on that data (recall@1 0.55 against 0.78): with the classic k = 60 and equal weights,
 * fusion pulls BM25's answers down (recall@1 0.68), while a small k with the dense side at weight 0.1 keeps
 * BM25's order and lets dense hits in below the strong keyword matches. With a real embedding model, set
 * RETRIEVAL_RRF_K=60 and RETRIEVAL_DENSE_WEIGHT=1 (the textbook setting) and measure on your data.
 */
export const DEFAULT_FUSION: FusionParams = { k: 2, denseWeight: 0.1, sparseWeight: 1 };
export const DEFAULT_CANDIDATES = 50;

const weight = z.coerce.number().positive().max(100);
const folder = z.string().refine((v) => !v.includes("\0"), "must be a file system path");

export const retrievalEnvSchema = z.object({
  /** Where the stack keeps its data; the embedded index lives in <RAG_DATA_DIR>/retrieval/lancedb. */
  RAG_DATA_DIR: folder.default(".data"),
  /** Folder of the embedded (LanceDB) index, instead of <RAG_DATA_DIR>/retrieval/lancedb. */
  RETRIEVAL_DATA_DIR: folder.optional(),
  /** Set: use this Qdrant server (REST, e.g. http://qdrant:6333) instead of the embedded index. */
  QDRANT_URL: z.url({ protocol: /^https?$/ }).optional(),
  QDRANT_API_KEY: z.string().optional(),
  /** Prefix of every Qdrant collection this service creates, so several deployments can share a server. */
  QDRANT_COLLECTION_PREFIX: z.string().regex(/^[A-Za-z0-9_-]{0,32}$/, "up to 32 characters of letters, digits, '_' and '-'").default("rag_"),
  QDRANT_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  /** Candidates each retriever hands to fusion in a hybrid search (at least top_k). */
  RETRIEVAL_CANDIDATES: z.coerce.number().int().min(1).max(1000).default(DEFAULT_CANDIDATES),
  /** RRF constant k: a hit at rank r adds 1 / (k + r). */
  RETRIEVAL_RRF_K: z.coerce.number().int().min(1).max(1000).default(DEFAULT_FUSION.k),
  RETRIEVAL_DENSE_WEIGHT: weight.default(DEFAULT_FUSION.denseWeight),
  RETRIEVAL_SPARSE_WEIGHT: weight.default(DEFAULT_FUSION.sparseWeight),
});

export type RetrievalEnv = z.infer<typeof retrievalEnvSchema>;

export function fusionParams(env: RetrievalEnv): FusionParams {
  return { k: env.RETRIEVAL_RRF_K, denseWeight: env.RETRIEVAL_DENSE_WEIGHT, sparseWeight: env.RETRIEVAL_SPARSE_WEIGHT };
}

/** The embedded index's folder, created if missing; a folder we cannot write stops start-up naming the variable. */
export async function lanceDataDir(env: RetrievalEnv): Promise<string> {
  const variable = env.RETRIEVAL_DATA_DIR !== undefined ? "RETRIEVAL_DATA_DIR" : "RAG_DATA_DIR";
  const dir = path.resolve(env.RETRIEVAL_DATA_DIR ?? path.join(env.RAG_DATA_DIR, "retrieval", "lancedb"));
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, constants.R_OK | constants.W_OK);
  } catch (err) {
    throw new ConfigError([`${variable}: cannot create or write the index folder ${JSON.stringify(dir)} (${(err as NodeJS.ErrnoException).code ?? String(err)})`]);
  }
  return dir;
}
