import type { Schemas } from "@qdrant/js-client-rest";
import type { Bounds, PointSelector, Scope, SearchFilter } from "../backend.js";

type Condition = Schemas["Condition"];
export type QdrantFilter = Schemas["Filter"];

/**
 * Payload layout of a chunk point, and the filters over it. Metadata is an array of {k, v, n?, t?}
 * objects (key, raw value, value as a number, value as an RFC 3339 time) so that a `nested` condition can
 * require key and value in the same element, whatever characters the key holds.
 */
export const FIELDS = {
  tenant: "tenant_id",
  collection: "collection",
  documentId: "document_id",
  chunkId: "chunk_id",
  tags: "tags",
  meta: "meta",
  documentTime: "document_time",
} as const;

export interface MetaEntry {
  k: string;
  v: string;
  n?: number;
  t?: string;
}

/** The conditions that confine every request to one tenant's collection; always present, always `must`. */
export function scopeConditions(scope: Scope): Condition[] {
  return [
    { key: FIELDS.tenant, match: { value: scope.tenant } },
    { key: FIELDS.collection, match: { value: scope.collection } },
  ];
}

function numeric(b: Bounds): Schemas["Range"] {
  const r: Schemas["Range"] = { gte: b.gte, gt: b.gt, lte: b.lte, lt: b.lt };
  // No bounds still means "has a number": the lowest double bounds every finite value.
  if (b.gte === undefined && b.gt === undefined && b.lte === undefined && b.lt === undefined) r.gte = -Number.MAX_VALUE;
  return r;
}

const FIRST_MS = -62_135_596_800_000; // 0001-01-01T00:00:00Z (Date.UTC would read year 1 as 1901)
const LAST_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** RFC 3339 as Qdrant parses it: four-digit years only, so bounds outside 0001-9999 are clamped. */
export function rfc3339(ms: number): string {
  return new Date(Math.min(Math.max(ms, FIRST_MS), LAST_MS)).toISOString();
}

function times(startMs: number | undefined, endMs: number | undefined): Schemas["DatetimeRange"] {
  return {
    // The oldest time a payload may hold stands in for an open start, so the field must still be there.
    gte: rfc3339(startMs ?? FIRST_MS),
    ...(endMs === undefined ? {} : { lt: rfc3339(endMs) }),
  };
}

function metaCondition(key: string, inner: Condition): Condition {
  return { nested: { key: FIELDS.meta, filter: { must: [{ key: "k", match: { value: key } }, inner] } } };
}

/** The search filter as Qdrant conditions, scope first; every condition must hold. */
export function searchFilter(scope: Scope, f: SearchFilter): QdrantFilter {
  const must: Condition[] = scopeConditions(scope);
  if (f.documentIds.length > 0) must.push({ key: FIELDS.documentId, match: { any: f.documentIds } });
  if (f.tags.length > 0) must.push({ key: FIELDS.tags, match: { any: f.tags } });
  for (const [key, value] of Object.entries(f.metadata)) must.push(metaCondition(key, { key: "v", match: { value } }));
  for (const r of f.numericRanges) must.push(metaCondition(r.key, { key: "n", range: numeric(r.bounds) }));
  for (const t of f.timeRanges) {
    if (t.field === undefined) {
      if (t.startMs !== undefined || t.endMs !== undefined) must.push({ key: FIELDS.documentTime, range: times(t.startMs, t.endMs) });
    } else {
      must.push(metaCondition(t.field, { key: "t", range: times(t.startMs, t.endMs) }));
    }
  }
  return { must };
}

/** Points of the scope whose document id or chunk id is listed. */
export function selectorFilter(scope: Scope, s: PointSelector): QdrantFilter {
  const should: Condition[] = [];
  if (s.documentIds.length > 0) should.push({ key: FIELDS.documentId, match: { any: s.documentIds } });
  if (s.chunkIds.length > 0) should.push({ key: FIELDS.chunkId, match: { any: s.chunkIds } });
  return { must: [...scopeConditions(scope), { should }] };
}

/** Payload indexes of the chunk collections: the tenant one partitions storage per tenant (is_tenant). */
export const CHUNK_INDEXES: { field: string; schema: Schemas["PayloadFieldSchema"] }[] = [
  { field: FIELDS.tenant, schema: { type: "keyword", is_tenant: true } },
  { field: FIELDS.collection, schema: "keyword" },
  { field: FIELDS.documentId, schema: "keyword" },
  { field: FIELDS.chunkId, schema: "keyword" },
  { field: FIELDS.tags, schema: "keyword" },
  { field: `${FIELDS.meta}[].k`, schema: "keyword" },
  { field: `${FIELDS.meta}[].v`, schema: "keyword" },
  { field: `${FIELDS.meta}[].n`, schema: "float" },
  { field: `${FIELDS.meta}[].t`, schema: "datetime" },
  { field: FIELDS.documentTime, schema: "datetime" },
];
