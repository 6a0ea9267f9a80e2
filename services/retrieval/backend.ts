/**
 * The index behind the retrieval service, as one interface with two engines (LanceDB embedded, Qdrant in
 * production). Handlers validate requests and translate protobuf; a backend stores and searches. Every
 * method takes the tenant explicitly, and a backend never reads or writes outside that tenant.
 */

/** Which collection of which tenant a call works on. */
export interface Scope {
  tenant: string;
  collection: string;
}

/** A point as stored: the validated, normalised form of a protobuf `Point`. */
export interface IndexPoint {
  chunkId: string;
  documentId: string;
  vector: number[];
  text: string;
  title: string;
  sourceUri: string;
  headingPath: string[];
  chunkIndex: number;
  tags: string[];
  metadata: Record<string, string>;
  /** Epoch milliseconds, or undefined when the caller gave none. */
  documentTimeMs: number | undefined;
}

/** A numeric bound set: every given bound must hold. */
export interface Bounds {
  gte?: number;
  gt?: number;
  lte?: number;
  lt?: number;
}

/**
 * A validated search filter; every non-empty part must hold (AND). Times are epoch milliseconds, ranges
 * half-open [startMs, endMs) as the contract has them.
 */
export interface SearchFilter {
  documentIds: string[];
  tags: string[];
  metadata: Record<string, string>;
  numericRanges: { key: string; bounds: Bounds }[];
  /** `field` undefined means the point's document_time; otherwise a metadata key read as RFC 3339. */
  timeRanges: { field: string | undefined; startMs?: number; endMs?: number }[];
}

export type Retriever = "dense" | "sparse";

/** How the two ranked lists of a hybrid search are fused (see fusion.ts). */
export interface FusionParams {
  /** RRF constant: a point at 1-based rank r contributes weight-scaled 1 / (k + r). */
  k: number;
  denseWeight: number;
  sparseWeight: number;
}

export interface SearchQuery {
  /** The retrievers to run: one of them, or both fused. */
  retrievers: Retriever[];
  vector?: number[];
  text?: string;
  filter: SearchFilter;
  topK: number;
  /** Candidates each retriever contributes to fusion (hybrid only); at least topK. */
  candidates: number;
  fusion: FusionParams;
  includeVectors: boolean;
}

export interface ScoredPoint {
  point: IndexPoint;
  /** Fused score in hybrid; the single retriever's score otherwise. */
  score: number;
  /** Cosine similarity, 0 when the dense retriever did not return the point. */
  denseScore: number;
  /** BM25 score, 0 when the sparse retriever did not return the point. */
  sparseScore: number;
  /** 1-based; 0 when not returned by that retriever. */
  denseRank: number;
  sparseRank: number;
}

export interface CollectionInfo {
  tenant: string;
  name: string;
  pointCount: number;
  documentCount: number;
  dimensions: number;
  version: number;
  createTime: Date;
  updateTime: Date;
}

export interface PointSelector {
  documentIds: string[];
  chunkIds: string[];
}

export interface VectorBackend {
  /** Short name for logs: "lancedb" or "qdrant". */
  readonly kind: string;
  /**
   * Inserts or replaces points by chunk id, atomically, creating the collection on first use. Throws
   * InvalidArgumentError naming `points[i].vector` when a vector's length differs from the collection's.
   */
  upsert(scope: Scope, points: IndexPoint[]): Promise<{ upserted: number; version: number }>;
  /** Removes points whose document id or chunk id is listed; the version moves only if something went. */
  delete(scope: Scope, selector: PointSelector): Promise<{ deleted: number; version: number }>;
  /** Ranked hits; a missing collection answers no hits and version 0. */
  search(scope: Scope, query: SearchQuery): Promise<{ hits: ScoredPoint[]; version: number }>;
  getCollection(scope: Scope): Promise<CollectionInfo | undefined>;
  /** The tenant's collections by name ascending, starting after `after`, at most `limit`. */
  listCollections(tenant: string, page: { after?: string; limit: number }): Promise<CollectionInfo[]>;
  /** Throws when the engine cannot serve (for /readyz). */
  ready(): Promise<void>;
  close(): Promise<void>;
}
