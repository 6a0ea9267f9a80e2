import { SearchMode, type DeleteRequest, type Filter, type Point, type SearchRequest } from "#gen/rag/v1/retrieval.js";
import { InvalidArgumentError } from "#mesh/errors.js";
import { checkFilter, LABEL_LIMITS, label, labels, metadata } from "#mesh/labels.js";
import { notLongerThan } from "#mesh/rules.js";
export { collectionName } from "#mesh/rules.js";
import type { FusionParams, IndexPoint, PointSelector, Retriever, SearchFilter, SearchQuery } from "./backend.js";

/** Bounds on what one request may carry; they keep a single call from exhausting memory or the engine. */
export const LIMITS = {
  ...LABEL_LIMITS,
  pointsPerUpsert: 1000,
  idsPerDelete: 10_000,
  textLength: 100_000,
  titleLength: 1000,
  sourceUriLength: 2048,
  headings: 32,
  headingLength: 1000,
  tags: 64,
  dimensions: 16_384,
  queryLength: 8192,
  defaultTopK: 10,
  maxTopK: 100,
};

// RFC 3339 (and so Qdrant's datetime payloads) has four-digit years.
const FIRST_TIME_MS = -62_135_596_800_000;
const LAST_TIME_MS = 253_402_300_799_999;

function text(field: string, value: string, max: number): string {
  return notLongerThan(field, value, max);
}

export function vector(field: string, values: number[]): number[] {
  if (values.length > LIMITS.dimensions) throw new InvalidArgumentError(field, `at most ${LIMITS.dimensions} dimensions, got ${values.length}`);
  let norm = 0;
  for (const v of values) {
    if (!Number.isFinite(v)) throw new InvalidArgumentError(field, "every component must be a finite number");
    norm += v * v;
  }
  // Cosine similarity is undefined for the zero vector.
  if (norm === 0) throw new InvalidArgumentError(field, "must not be the zero vector");
  return values;
}

function point(p: Point, i: number): IndexPoint {
  const f = (name: string) => `points[${i}].${name}`;
  if (p.vector.length === 0) throw new InvalidArgumentError(f("vector"), "required");
  if (p.text.trim() === "") throw new InvalidArgumentError(f("text"), "required");
  if (!Number.isInteger(p.chunkIndex) || p.chunkIndex < 0) throw new InvalidArgumentError(f("chunk_index"), "must not be negative");
  const time = p.documentTime?.getTime();
  if (time !== undefined && !(time >= FIRST_TIME_MS && time <= LAST_TIME_MS)) throw new InvalidArgumentError(f("document_time"), "must lie in the years 0001 to 9999");
  return {
    chunkId: label(f("chunk_id"), p.chunkId, LIMITS.idLength, true),
    documentId: label(f("document_id"), p.documentId, LIMITS.idLength, true),
    vector: vector(f("vector"), p.vector),
    text: text(f("text"), p.text, LIMITS.textLength),
    title: text(f("title"), p.title, LIMITS.titleLength),
    sourceUri: text(f("source_uri"), p.sourceUri, LIMITS.sourceUriLength),
    headingPath: (() => {
      if (p.headingPath.length > LIMITS.headings) throw new InvalidArgumentError(f("heading_path"), `at most ${LIMITS.headings} headings`);
      return p.headingPath.map((h, j) => text(`${f("heading_path")}[${j}]`, h, LIMITS.headingLength));
    })(),
    chunkIndex: p.chunkIndex,
    tags: labels(f("tags"), p.tags, LIMITS.tags, LIMITS.tagLength),
    metadata: metadata(f("metadata"), p.metadata),
    documentTimeMs: time,
  };
}

export function upsertPoints(points: Point[]): IndexPoint[] {
  if (points.length === 0) throw new InvalidArgumentError("points", "at least one point is required");
  if (points.length > LIMITS.pointsPerUpsert) throw new InvalidArgumentError("points", `at most ${LIMITS.pointsPerUpsert} points per call, got ${points.length}`);
  const out = points.map(point);
  const seen = new Map<string, number>();
  out.forEach((p, i) => {
    const first = seen.get(p.chunkId);
    if (first !== undefined) throw new InvalidArgumentError(`points[${i}].chunk_id`, `duplicates points[${first}].chunk_id ${JSON.stringify(p.chunkId)}`);
    seen.set(p.chunkId, i);
    if (p.vector.length !== out[0]!.vector.length) {
      throw new InvalidArgumentError(`points[${i}].vector`, `has ${p.vector.length} dimensions but points[0].vector has ${out[0]!.vector.length}`);
    }
  });
  return out;
}

export function deleteSelector(req: DeleteRequest): PointSelector {
  if (req.documentIds.length === 0 && req.chunkIds.length === 0) throw new InvalidArgumentError("document_ids", "give document_ids and/or chunk_ids to delete");
  return {
    documentIds: labels("document_ids", req.documentIds, LIMITS.idsPerDelete, LIMITS.idLength),
    chunkIds: labels("chunk_ids", req.chunkIds, LIMITS.idsPerDelete, LIMITS.idLength),
  };
}

/** The filter checked by the rules every service shares (#mesh/labels.ts). */
export function searchFilter(filter: Filter | undefined): SearchFilter {
  return checkFilter(filter);
}

export interface SearchDefaults {
  candidates: number;
  fusion: FusionParams;
}

/** The request as a backend query, and the mode actually used (hybrid degrades when one input is missing). */
export function searchQuery(req: SearchRequest, defaults: SearchDefaults): { query: SearchQuery; mode: SearchMode } {
  if (!Number.isInteger(req.topK) || req.topK < 0) throw new InvalidArgumentError("top_k", "must not be negative");
  if (req.topK > LIMITS.maxTopK) throw new InvalidArgumentError("top_k", `at most ${LIMITS.maxTopK}, got ${req.topK}`);
  if (!Number.isFinite(req.minScore)) throw new InvalidArgumentError("min_score", "must be a finite number");
  const topK = req.topK === 0 ? LIMITS.defaultTopK : req.topK;
  const hasText = req.query.trim() !== "";
  const hasVector = req.vector.length > 0;
  let retrievers: Retriever[];
  switch (req.mode) {
    case SearchMode.SEARCH_MODE_DENSE:
      if (!hasVector) throw new InvalidArgumentError("vector", "required for SEARCH_MODE_DENSE: pass the query embedding");
      retrievers = ["dense"];
      break;
    case SearchMode.SEARCH_MODE_SPARSE:
      if (!hasText) throw new InvalidArgumentError("query", "required for SEARCH_MODE_SPARSE: pass the query text");
      retrievers = ["sparse"];
      break;
    case SearchMode.SEARCH_MODE_HYBRID:
    case SearchMode.SEARCH_MODE_UNSPECIFIED:
      if (!hasText && !hasVector) throw new InvalidArgumentError("query", "give query text (for BM25) and/or vector (for dense search)");
      retrievers = [...(hasVector ? (["dense"] as const) : []), ...(hasText ? (["sparse"] as const) : [])];
      break;
    default:
      throw new InvalidArgumentError("mode", `unknown search mode ${req.mode}`);
  }
  const mode = retrievers.length === 2 ? SearchMode.SEARCH_MODE_HYBRID : retrievers[0] === "dense" ? SearchMode.SEARCH_MODE_DENSE : SearchMode.SEARCH_MODE_SPARSE;
  return {
    mode,
    query: {
      retrievers,
      vector: retrievers.includes("dense") ? vector("vector", req.vector) : undefined,
      text: retrievers.includes("sparse") ? text("query", req.query.trim(), LIMITS.queryLength) : undefined,
      filter: searchFilter(req.filter),
      topK,
      candidates: Math.max(topK, defaults.candidates),
      fusion: defaults.fusion,
      includeVectors: req.includeVectors,
    },
  };
}
