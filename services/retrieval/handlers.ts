import type { Collection, Point, RetrievalServiceService, SearchHit } from "#gen/rag/v1/retrieval.js";
import { requireTenant } from "#mesh/context.js";
import { NotFoundError } from "#mesh/errors.js";
import type { ServiceImpl } from "#mesh/handlers.js";
import { decodePageToken, encodePageToken, PAGE_DEFAULTS, pageSize } from "#mesh/pagination.js";
import type { CollectionInfo, IndexPoint, ScoredPoint, VectorBackend } from "./backend.js";
import * as valid from "./validate.js";

type Impl = ServiceImpl<typeof RetrievalServiceService>;

/** Requests in, protobuf out: validation in validate.ts, storage and ranking in the backend. */
export function retrievalService(backend: VectorBackend, defaults: valid.SearchDefaults): Impl {
  return {
    async upsert(req, ctx) {
      const tenant = requireTenant(ctx);
      const collection = valid.collectionName(req.collection);
      const points = valid.upsertPoints(req.points);
      const { upserted, version } = await backend.upsert({ tenant, collection }, points);
      return { upsertedCount: upserted, collectionVersion: String(version) };
    },

    async delete(req, ctx) {
      const tenant = requireTenant(ctx);
      const collection = valid.collectionName(req.collection);
      const { deleted, version } = await backend.delete({ tenant, collection }, valid.deleteSelector(req));
      return { deletedCount: String(deleted), collectionVersion: String(version) };
    },

    async search(req, ctx) {
      const tenant = requireTenant(ctx);
      const collection = valid.collectionName(req.collection);
      const { query, mode } = valid.searchQuery(req, defaults);
      const { hits, version } = await backend.search({ tenant, collection }, query);
      const kept = req.minScore > 0 ? hits.filter((h) => h.score >= req.minScore) : hits;
      return { hits: kept.map((h, i) => toHit(h, i + 1, query.includeVectors)), mode, collectionVersion: String(version) };
    },

    async getCollection(req, ctx) {
      const tenant = requireTenant(ctx);
      const collection = valid.collectionName(req.collection);
      const info = await backend.getCollection({ tenant, collection });
      if (!info) throw new NotFoundError("collection", collection);
      return { collection: toCollection(info) };
    },

    async listCollections(req, ctx) {
      const tenant = requireTenant(ctx);
      const limit = pageSize(req.pageSize, PAGE_DEFAULTS);
      const after = decodePageToken<{ after: string }>(req.pageToken, {});
      const page = await backend.listCollections(tenant, { after: after ? String(after.after) : undefined, limit: limit + 1 });
      const shown = page.slice(0, limit);
      const more = page.length > limit;
      return { collections: shown.map(toCollection), nextPageToken: more ? encodePageToken({ after: shown[shown.length - 1]!.name }, {}) : "" };
    },
  };
}

function toPoint(p: IndexPoint, includeVector: boolean): Point {
  return {
    chunkId: p.chunkId,
    documentId: p.documentId,
    vector: includeVector ? p.vector : [],
    text: p.text,
    title: p.title,
    sourceUri: p.sourceUri,
    headingPath: p.headingPath,
    chunkIndex: p.chunkIndex,
    tags: p.tags,
    metadata: p.metadata,
    documentTime: p.documentTimeMs === undefined ? undefined : new Date(p.documentTimeMs),
  };
}

function toHit(h: ScoredPoint, rank: number, includeVector: boolean): SearchHit {
  return {
    point: toPoint(h.point, includeVector),
    rank,
    score: h.score,
    denseScore: h.denseScore,
    sparseScore: h.sparseScore,
    denseRank: h.denseRank,
    sparseRank: h.sparseRank,
  };
}

function toCollection(c: CollectionInfo): Collection {
  return {
    name: c.name,
    tenantId: c.tenant,
    pointCount: String(c.pointCount),
    documentCount: String(c.documentCount),
    dimensions: c.dimensions,
    version: String(c.version),
    createTime: c.createTime,
    updateTime: c.updateTime,
  };
}
