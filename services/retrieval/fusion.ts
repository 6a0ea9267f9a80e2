import type { FusionParams } from "./backend.js";

/**
 * Reciprocal rank fusion, the one definition both backends follow. A point at 1-based rank r of a
 * retriever with weight w contributes 1 / (k + r / w); its fused score is the sum over the retrievers that
 * returned it. With w = 1 this is the classic sum(1 / (k + r)) of Cormack et al. (k = 60 in the paper and
 * in the contract's default). The weight stretches ranks rather than scaling the term, as Qdrant's weighted
 * RRF does, so the embedded engine and Qdrant order points identically.
 */
export function rrfTerm(rank: number, params: FusionParams, weight: number): number {
  if (rank <= 0 || weight <= 0) return 0;
  return 1 / (params.k + rank / weight);
}

export interface Ranked<T> {
  id: string;
  score: number;
  item: T;
}

export interface Fused<T> {
  id: string;
  item: T;
  score: number;
  denseScore: number;
  sparseScore: number;
  denseRank: number;
  sparseRank: number;
}

/** Fuses two ranked lists (best first) and returns the best `limit`, ties broken by best rank then id. */
export function fuse<T>(dense: Ranked<T>[], sparse: Ranked<T>[], params: FusionParams, limit: number): Fused<T>[] {
  const byId = new Map<string, Fused<T>>();
  const entry = (r: Ranked<T>) => {
    let f = byId.get(r.id);
    if (!f) byId.set(r.id, (f = { id: r.id, item: r.item, score: 0, denseScore: 0, sparseScore: 0, denseRank: 0, sparseRank: 0 }));
    return f;
  };
  dense.forEach((r, i) => {
    const f = entry(r);
    f.denseRank = i + 1;
    f.denseScore = r.score;
    f.score += rrfTerm(i + 1, params, params.denseWeight);
  });
  sparse.forEach((r, i) => {
    const f = entry(r);
    f.sparseRank = i + 1;
    f.sparseScore = r.score;
    f.score += rrfTerm(i + 1, params, params.sparseWeight);
  });
  const best = (f: Fused<T>) => Math.min(f.denseRank || Infinity, f.sparseRank || Infinity);
  return [...byId.values()]
    .sort((a, b) => b.score - a.score || best(a) - best(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .slice(0, limit);
}

/**
 * The same fusion as Qdrant's `rrf` query. Qdrant ranks from 0 and computes 1 / (k' + (r0 + 1) / w - 1),
 * so k' = k + 1 gives our 1 / (k + r / w). Weights are sent only when they differ from 1, which keeps
 * servers without weighted RRF (before 1.17) usable with the default settings.
 */
export function qdrantRrf(params: FusionParams, order: readonly ("dense" | "sparse")[]): { rrf: { k: number; weights?: number[] } } {
  const weights = order.map((r) => (r === "dense" ? params.denseWeight : params.sparseWeight));
  return { rrf: { k: params.k + 1, ...(weights.every((w) => w === 1) ? {} : { weights }) } };
}
