import { createHash } from "node:crypto";
import { Filter } from "#gen/rag/v1/retrieval.js";
import type { AskPlan } from "./plan.js";

/**
 * How an answer-cache key is built.
 *
 *   answer:v1:<tenant>:<collection>:<collection version>:<sha256 of the canonical parts, hex>
 *
 * The readable prefix scopes every entry to one tenant and one version of one collection: any Upsert or
 * Delete in the collection bumps its version (retrieval's contract), so the old entries are never read
 * again and simply expire. The hash covers everything else that changes the answer, after defaults are
 * resolved so equivalent requests share an entry:
 *
 *   - q:         the question normalised: Unicode NFKC, lower case, punctuation removed, runs of
 *                whitespace collapsed to one space, trimmed ("What is  X?" and "what is x" are one key);
 *   - top_k:     resolved (0 means 5, so 0 and 5 share);
 *   - mode:      the search mode, resolved (unspecified means hybrid);
 *   - filter:    canonical JSON of the filter: id and tag lists sorted and de-duplicated (they are sets),
 *                metadata keys sorted, ranges sorted (they are ANDed), an empty filter equal to none;
 *   - gen:       provider, model, max_tokens (0 means 512), template ("" means "default");
 *   - embedding: the question embedding model this replica is configured with.
 *
 * The tenant and collection also sit inside the hash input, so the hash alone is never shared across them.
 * Options that do not change the answer (bypass_cache) are left out.
 */
export function answerCacheKey(tenant: string, plan: AskPlan, collectionVersion: string, embeddingModel: string): string {
  const parts = {
    tenant,
    collection: plan.collection,
    q: normaliseQuestion(plan.question),
    top_k: plan.topK,
    mode: plan.mode,
    filter: canonicalFilter(plan.filter),
    gen: [plan.generation.provider, plan.generation.model, plan.generation.maxTokens, plan.generation.template],
    embedding: embeddingModel,
  };
  const digest = createHash("sha256").update(JSON.stringify(parts)).digest("hex");
  return `answer:v1:${tenant}:${plan.collection}:${collectionVersion}:${digest}`;
}

export function normaliseQuestion(question: string): string {
  return question
    .normalize("NFKC")
    .toLowerCase()
    .replace(/\p{P}+/gu, " ")
    .replace(/\s+/gu, " ")
    .trim();
}

function canonicalFilter(filter: Filter | undefined): unknown {
  const json = Filter.toJSON(Filter.fromPartial(filter ?? {})) as Record<string, unknown>;
  const sortedSet = (v: unknown) => (Array.isArray(v) ? [...new Set(v as string[])].sort() : undefined);
  const sortedByJson = (v: unknown) => (Array.isArray(v) ? v.map(sortKeys).map((x) => JSON.stringify(x)).sort() : undefined);
  return sortKeys({
    ...json,
    documentIds: sortedSet(json.documentIds),
    tags: sortedSet(json.tags),
    numericRanges: sortedByJson(json.numericRanges),
    timeRanges: sortedByJson(json.timeRanges),
  });
}

/** Objects with keys in sorted order and undefined members dropped, so equal values stringify equally. */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => [k, sortKeys(v)]),
  );
}
