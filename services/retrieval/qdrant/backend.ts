import { QdrantClient, QdrantClientTimeoutError, QdrantClientUnexpectedResponseError, type Schemas } from "@qdrant/js-client-rest";
import { InvalidArgumentError, RpcError, UnavailableError } from "#mesh/errors.js";
import type { CollectionInfo, IndexPoint, PointSelector, Scope, ScoredPoint, SearchQuery, VectorBackend } from "../backend.js";
import { qdrantRrf } from "../fusion.js";
import { KeyedLock } from "../keyed-lock.js";
import { metadataNumber, metadataTime } from "../values.js";
import { CHUNK_INDEXES, FIELDS, rfc3339, scopeConditions, searchFilter, selectorFilter, type MetaEntry } from "./filter.js";
import { pointId } from "./point-id.js";
import { documentVector, queryVector } from "./sparse.js";

export interface QdrantOptions {
  url: string;
  apiKey?: string;
  /** Prefix of every Qdrant collection this service creates. */
  prefix: string;
  timeoutMs: number;
}

const DENSE = "dense";
const SPARSE = "bm25";

/** A collection's record in the catalog collection: what it holds and its write version. */
interface CatalogPayload {
  tenant_id: string;
  collection: string;
  dimensions: number;
  version: number;
  create_time: string;
  update_time: string;
}

/**
 * Qdrant backend. All tenants share one Qdrant collection per vector size (`<prefix>chunks_d<size>`) with
 * a named dense vector (cosine) and a named sparse vector (client-side BM25 terms, `idf` modifier); every
 * request carries the tenant and collection as `must` conditions built in one place (filter.ts), and
 * point ids are derived from (tenant, collection, chunk id), so no request can reach another tenant's
 * points. A catalog collection (`<prefix>collections`, payload only) keeps each collection's vector size
 * and write version.
 *
 * Hybrid search is one batch request: the fused query (two filtered prefetches, `rrf` fusion with the
 * same k and weights as fusion.ts) orders the hits, and the two plain queries beside it give each hit
 * its dense and sparse score and rank.
 *
 * Versions are bumped after the write, serialised per collection within this process. Two replicas
 * writing the same collection at the same moment can both read version v and both record v + 1; run one
 * writer per collection (the ingestion pipeline does) if caches must never see that.
 */
export class QdrantBackend implements VectorBackend {
  readonly kind = "qdrant";
  private readonly lock = new KeyedLock();
  private readonly knownCollections = new Set<string>();

  private constructor(
    private readonly client: QdrantClient,
    private readonly prefix: string,
  ) {}

  static async open(opts: QdrantOptions): Promise<QdrantBackend> {
    const client = new QdrantClient({ url: opts.url, apiKey: opts.apiKey, timeout: opts.timeoutMs, checkCompatibility: false });
    const backend = new QdrantBackend(client, opts.prefix);
    await backend.call(() =>
      backend.ensureCollection(backend.catalogName, { vectors: {} }, [
        { field: "tenant_id", schema: { type: "keyword", is_tenant: true } },
        { field: "collection", schema: "keyword" },
      ]),
    );
    return backend;
  }

  private get catalogName(): string {
    return `${this.prefix}collections`;
  }

  private chunksName(dimensions: number): string {
    return `${this.prefix}chunks_d${dimensions}`;
  }

  /** Maps transport failures to UNAVAILABLE; a 4xx is our bug, so it stays an internal error. */
  private async call<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (err instanceof RpcError) throw err;
      if (err instanceof QdrantClientTimeoutError) throw new UnavailableError(`qdrant timed out: ${err.message}`);
      if (err instanceof QdrantClientUnexpectedResponseError) throw err;
      const status = (err as { status?: number }).status;
      if (status === undefined || status >= 500) throw new UnavailableError(`qdrant unreachable or failing: ${err instanceof Error ? err.message : String(err)}`);
      // Qdrant explains a rejected request in the body; keep it for the log (the caller sees INTERNAL).
      throw new Error(`qdrant rejected a request (${status}): ${JSON.stringify((err as { data?: unknown }).data)}`);
    }
  }

  private async ensureCollection(name: string, config: Schemas["CreateCollection"], indexes: { field: string; schema: Schemas["PayloadFieldSchema"] }[]): Promise<void> {
    if (this.knownCollections.has(name)) return;
    if (!(await this.client.collectionExists(name)).exists) {
      try {
        await this.client.createCollection(name, config);
      } catch (err) {
        // Another replica may have created it between our check and our create.
        if (!(await this.client.collectionExists(name)).exists) throw err;
      }
    }
    // Idempotent: creating an existing index again is accepted.
    for (const index of indexes) await this.client.createPayloadIndex(name, { field_name: index.field, field_schema: index.schema, wait: true });
    this.knownCollections.add(name);
  }

  private async ensureChunks(dimensions: number): Promise<string> {
    const name = this.chunksName(dimensions);
    await this.ensureCollection(
      name,
      { vectors: { [DENSE]: { size: dimensions, distance: "Cosine" } }, sparse_vectors: { [SPARSE]: { modifier: "idf" } } },
      CHUNK_INDEXES,
    );
    return name;
  }

  private catalogId(scope: Scope): string {
    return pointId(scope.tenant, scope.collection, "");
  }

  private async record(scope: Scope): Promise<CatalogPayload | undefined> {
    const found = await this.client.retrieve(this.catalogName, { ids: [this.catalogId(scope)], with_payload: true, with_vector: false });
    const payload = found[0]?.payload as CatalogPayload | undefined;
    // The id is a hash; the payload check makes isolation independent of it.
    return payload && payload.tenant_id === scope.tenant && payload.collection === scope.collection ? payload : undefined;
  }

  private async writeRecord(scope: Scope, payload: CatalogPayload): Promise<void> {
    await this.client.upsert(this.catalogName, { wait: true, points: [{ id: this.catalogId(scope), vector: {}, payload: payload as unknown as Schemas["Payload"] }] });
  }

  private async bump(scope: Scope, record: CatalogPayload): Promise<number> {
    const next = { ...record, version: record.version + 1, update_time: new Date().toISOString() };
    await this.writeRecord(scope, next);
    return next.version;
  }

  async upsert(scope: Scope, points: IndexPoint[]): Promise<{ upserted: number; version: number }> {
    return this.lock.run(`${scope.tenant}\n${scope.collection}`, () =>
      this.call(async () => {
        const dimensions = points[0]!.vector.length;
        let record = await this.record(scope);
        if (record && record.dimensions !== dimensions) {
          throw new InvalidArgumentError("points[0].vector", `has ${dimensions} dimensions but collection ${JSON.stringify(scope.collection)} holds ${record.dimensions}-dimensional vectors`);
        }
        const chunks = await this.ensureChunks(dimensions);
        if (!record) {
          const now = new Date().toISOString();
          record = { tenant_id: scope.tenant, collection: scope.collection, dimensions, version: 0, create_time: now, update_time: now };
          await this.writeRecord(scope, record);
        }
        await this.client.upsert(chunks, { wait: true, points: points.map((p) => this.toPointStruct(scope, p)) });
        return { upserted: points.length, version: await this.bump(scope, record) };
      }),
    );
  }

  private toPointStruct(scope: Scope, p: IndexPoint): Schemas["PointStruct"] {
    const meta: MetaEntry[] = Object.keys(p.metadata)
      .sort()
      .map((k) => {
        const v = p.metadata[k]!;
        const n = metadataNumber(v);
        const t = metadataTime(v);
        return { k, v, ...(n === undefined ? {} : { n }), ...(t === undefined ? {} : { t: rfc3339(t) }) };
      });
    return {
      id: pointId(scope.tenant, scope.collection, p.chunkId),
      vector: { [DENSE]: p.vector, [SPARSE]: documentVector(p.text) },
      payload: {
        [FIELDS.tenant]: scope.tenant,
        [FIELDS.collection]: scope.collection,
        [FIELDS.chunkId]: p.chunkId,
        [FIELDS.documentId]: p.documentId,
        text: p.text,
        title: p.title,
        source_uri: p.sourceUri,
        heading_path: p.headingPath,
        chunk_index: p.chunkIndex,
        [FIELDS.tags]: p.tags,
        [FIELDS.meta]: meta,
        ...(p.documentTimeMs === undefined ? {} : { [FIELDS.documentTime]: rfc3339(p.documentTimeMs) }),
      },
    };
  }

  async delete(scope: Scope, selector: PointSelector): Promise<{ deleted: number; version: number }> {
    return this.lock.run(`${scope.tenant}\n${scope.collection}`, () =>
      this.call(async () => {
        const record = await this.record(scope);
        if (!record) return { deleted: 0, version: 0 };
        const chunks = this.chunksName(record.dimensions);
        const filter = selectorFilter(scope, selector);
        const { count } = await this.client.count(chunks, { filter, exact: true });
        if (count === 0) return { deleted: 0, version: record.version };
        await this.client.delete(chunks, { wait: true, filter });
        return { deleted: count, version: await this.bump(scope, record) };
      }),
    );
  }

  async search(scope: Scope, query: SearchQuery): Promise<{ hits: ScoredPoint[]; version: number }> {
    return this.call(async () => {
      const record = await this.record(scope);
      if (!record || record.version === 0) return { hits: [], version: 0 };
      if (query.vector && query.vector.length !== record.dimensions) {
        throw new InvalidArgumentError("vector", `has ${query.vector.length} dimensions but collection ${JSON.stringify(scope.collection)} holds ${record.dimensions}-dimensional vectors`);
      }
      const chunks = this.chunksName(record.dimensions);
      const filter = searchFilter(scope, query.filter);
      const sparse = query.retrievers.includes("sparse") && query.text ? queryVector(query.text) : undefined;
      // A query of stop words only has no terms: nothing for BM25 to match.
      const useSparse = sparse !== undefined && sparse.indices.length > 0;
      const useDense = query.retrievers.includes("dense") && query.vector !== undefined;
      const withVector = query.includeVectors ? [DENSE] : false;
      const dense = (limit: number, withPayload: boolean): Schemas["QueryRequest"] => ({ query: query.vector!, using: DENSE, filter, limit, with_payload: withPayload, with_vector: withPayload ? withVector : false });
      const keyword = (limit: number, withPayload: boolean): Schemas["QueryRequest"] => ({ query: sparse!, using: SPARSE, filter, limit, with_payload: withPayload, with_vector: withPayload ? withVector : false });

      let hits: ScoredPoint[];
      if (useDense && useSparse) {
        const fused: Schemas["QueryRequest"] = {
          prefetch: [
            { query: query.vector!, using: DENSE, filter, limit: query.candidates },
            { query: sparse!, using: SPARSE, filter, limit: query.candidates },
          ],
          query: qdrantRrf(query.fusion, ["dense", "sparse"]),
          limit: query.topK,
          with_payload: true,
          with_vector: withVector,
        };
        const [top, denseSide, sparseSide] = await this.client.queryBatch(chunks, { searches: [fused, dense(query.candidates, false), keyword(query.candidates, false)] });
        const denseRanks = ranks(denseSide!.points);
        const sparseRanks = ranks(sparseSide!.points);
        hits = top!.points.map((p) => {
          const d = denseRanks.get(String(p.id));
          const s = sparseRanks.get(String(p.id));
          return { point: fromPayload(p), score: p.score, denseScore: d?.score ?? 0, denseRank: d?.rank ?? 0, sparseScore: s?.score ?? 0, sparseRank: s?.rank ?? 0 };
        });
      } else if (useDense || useSparse) {
        const result = await this.client.query(chunks, useDense ? dense(query.topK, true) : keyword(query.topK, true));
        hits = result.points.map((p, i) => ({
          point: fromPayload(p),
          score: p.score,
          denseScore: useDense ? p.score : 0,
          denseRank: useDense ? i + 1 : 0,
          sparseScore: useDense ? 0 : p.score,
          sparseRank: useDense ? 0 : i + 1,
        }));
      } else {
        hits = [];
      }
      return { hits, version: record.version };
    });
  }

  async getCollection(scope: Scope): Promise<CollectionInfo | undefined> {
    return this.call(async () => {
      const record = await this.record(scope);
      if (!record || record.version === 0) return undefined;
      return this.info(scope, record);
    });
  }

  private async info(scope: Scope, record: CatalogPayload): Promise<CollectionInfo> {
    const chunks = this.chunksName(record.dimensions);
    const filter = { must: scopeConditions(scope) };
    const { count } = await this.client.count(chunks, { filter, exact: true });
    // Distinct documents: a facet over the indexed document_id, exact, with room for every point.
    const facet = count === 0 ? { hits: [] } : await this.client.facet(chunks, { key: FIELDS.documentId, filter, exact: true, limit: count });
    return {
      tenant: scope.tenant,
      name: scope.collection,
      pointCount: count,
      documentCount: facet.hits.length,
      dimensions: record.dimensions,
      version: record.version,
      createTime: new Date(record.create_time),
      updateTime: new Date(record.update_time),
    };
  }

  async listCollections(tenant: string, page: { after?: string; limit: number }): Promise<CollectionInfo[]> {
    return this.call(async () => {
      const records: CatalogPayload[] = [];
      let offset: Schemas["ExtendedPointId"] | undefined;
      // A tenant has few collections; bounded pages of 256 until the scroll ends.
      for (let pages = 0; pages < 1000; pages++) {
        const res = await this.client.scroll(this.catalogName, { filter: { must: [{ key: "tenant_id", match: { value: tenant } }] }, limit: 256, offset, with_payload: true, with_vector: false });
        for (const p of res.points) records.push(p.payload as unknown as CatalogPayload);
        if (res.next_page_offset === null || res.next_page_offset === undefined) break;
        offset = res.next_page_offset as Schemas["ExtendedPointId"];
      }
      const selected = records
        .filter((r) => r.tenant_id === tenant && r.version > 0 && (page.after === undefined || r.collection > page.after))
        .sort((a, b) => (a.collection < b.collection ? -1 : 1))
        .slice(0, page.limit);
      return Promise.all(selected.map((r) => this.info({ tenant, collection: r.collection }, r)));
    });
  }

  async ready(): Promise<void> {
    await this.call(() => this.client.collectionExists(this.catalogName));
  }

  async close(): Promise<void> {
    // The REST client holds no connection that needs closing.
  }

  /** Test helper: drops every collection with this backend's prefix. */
  async dropAll(): Promise<void> {
    const { collections } = await this.client.getCollections();
    for (const c of collections) if (c.name.startsWith(this.prefix)) await this.client.deleteCollection(c.name);
  }
}

function ranks(points: Schemas["ScoredPoint"][]): Map<string, { rank: number; score: number }> {
  return new Map(points.map((p, i) => [String(p.id), { rank: i + 1, score: p.score }]));
}

function fromPayload(p: Schemas["ScoredPoint"]): IndexPoint {
  const payload = (p.payload ?? {}) as Record<string, unknown>;
  const meta = (payload[FIELDS.meta] as MetaEntry[] | undefined) ?? [];
  const time = payload[FIELDS.documentTime];
  const vector = p.vector && !Array.isArray(p.vector) ? (p.vector as Record<string, unknown>)[DENSE] : undefined;
  return {
    chunkId: String(payload[FIELDS.chunkId]),
    documentId: String(payload[FIELDS.documentId]),
    text: String(payload.text ?? ""),
    title: String(payload.title ?? ""),
    sourceUri: String(payload.source_uri ?? ""),
    headingPath: (payload.heading_path as string[] | undefined) ?? [],
    chunkIndex: Number(payload.chunk_index ?? 0),
    tags: (payload[FIELDS.tags] as string[] | undefined) ?? [],
    metadata: Object.fromEntries(meta.map((m) => [m.k, m.v])),
    documentTimeMs: typeof time === "string" ? Date.parse(time) : undefined,
    vector: Array.isArray(vector) ? (vector as number[]) : [],
  };
}
