import { mkdir } from "node:fs/promises";
import path from "node:path";
import { connect, Index, MatchQuery, type Connection, type FtsOptions, type Table } from "@lancedb/lancedb";
import { InvalidArgumentError } from "#mesh/errors.js";
import { log } from "#mesh/logger.js";
import type { CollectionInfo, IndexPoint, PointSelector, Scope, ScoredPoint, SearchQuery, VectorBackend } from "../backend.js";
import { fuse, type Ranked } from "../fusion.js";
import { KeyedLock } from "../keyed-lock.js";
import { Catalog, tenantKey, type CatalogRecord } from "./catalog.js";
import { FolderLock } from "./folder-lock.js";
import { selectorClause, whereClause } from "./filter.js";
import { fromRow, pointSchema, POINT_COLUMNS, toRow } from "./schema.js";

/**
 * Full-text options, measured on SQuAD (bench/retrieval-quality.ts): English stemming and stop-word
 * removal are worth about 3 points of recall@1 over plain lower-cased tokens. Positions are not stored:
 * we never run phrase queries, and the index is smaller without them.
 */
export const DEFAULT_FTS: Partial<FtsOptions> = {
  baseTokenizer: "simple",
  language: "English",
  lowercase: true,
  stem: true,
  removeStopWords: true,
  asciiFolding: true,
  withPosition: false,
};

export interface LanceOptions {
  /** Folder of the LanceDB database; created if missing. */
  dir: string;
  fts?: Partial<FtsOptions>;
  /** Compact files and fold new rows into the indexes after this many writes to a collection... */
  optimizeEvery?: number;
  /** ...or as soon as this many rows are outside the full-text index (they are searched by a slow scan). */
  maxUnindexedRows?: number;
}

const FTS_INDEX = "text_idx";

/**
 * The embedded backend: one LanceDB table per (tenant, collection), so no query can reach another
 * tenant's rows and BM25 statistics are the collection's own. Hybrid search runs the vector and the
 * full-text query with the same SQL pre-filter and fuses them in fusion.ts.
 *
 * Several processes may share the folder (retrieval replicas on one machine): writes to a collection are
 * serialised in memory and then across processes (folder-lock.ts), each write reads the collection's
 * record afresh under that lock, and reads check for other processes' commits (readConsistencyInterval
 * 0: +0.7 ms a search on a tiny table, within noise at 2,000 rows) and re-read the record, so a replica never answers from a stale
 * table or version.
 */
export class LanceBackend implements VectorBackend {
  readonly kind = "lancedb";
  private readonly lock = new KeyedLock();
  private readonly tables = new Map<string, Table>();
  private readonly records = new Map<string, CatalogRecord>();
  /** Collections this process has reconciled with their table once (loadRecord). */
  private readonly reconciled = new Set<string>();
  private readonly writesSinceOptimize = new Map<string, number>();
  private readonly documentCounts = new Map<string, { version: number; count: number }>();

  private constructor(
    private readonly db: Connection,
    private readonly catalog: Catalog,
    private readonly folderLock: FolderLock,
    private readonly opts: Required<LanceOptions>,
  ) {}

  static async open(options: LanceOptions): Promise<LanceBackend> {
    const opts = { fts: DEFAULT_FTS, optimizeEvery: 50, maxUnindexedRows: 500, ...options };
    await mkdir(opts.dir, { recursive: true });
    // 0: every read first checks for commits by other processes sharing the folder (the default never does).
    const db = await connect(opts.dir, { readConsistencyInterval: 0 });
    return new LanceBackend(db, new Catalog(path.join(opts.dir, "catalog")), new FolderLock(path.join(opts.dir, "locks")), opts);
  }

  private key(scope: Scope): string {
    return `${tenantKey(scope.tenant)}.${scope.collection}`;
  }

  /** Runs a write (or a reconciliation) holding the collection's lock in this process, then across processes. */
  private exclusive<T>(scope: Scope, work: () => Promise<T>): Promise<T> {
    const key = this.key(scope);
    return this.lock.run(key, () => this.folderLock.run(key, work));
  }

  /**
   * The collection's record for readers, as stored now (another process may have written since). The first
   * time, loading it may write (reconciliation), so that happens under the locks.
   */
  private async record(scope: Scope): Promise<CatalogRecord | undefined> {
    if (this.reconciled.has(this.key(scope))) return this.catalog.read(scope.tenant, scope.collection);
    return this.exclusive(scope, () => this.loadRecord(scope));
  }

  /**
   * The collection's record as stored, reconciled with its table (see catalog.ts). Caller holds the locks,
   * so no other process is between a commit and its record: a mismatch here is a crash's leftover.
   */
  private async loadRecord(scope: Scope): Promise<CatalogRecord | undefined> {
    const key = this.key(scope);
    const stored = await this.catalog.read(scope.tenant, scope.collection);
    this.reconciled.add(key);
    if (!stored) return undefined;
    const table = await this.table(scope);
    const lanceVersion = await table.version();
    let record = stored;
    if (lanceVersion !== stored.lanceVersion) {
      record = { ...stored, version: stored.version + 1, lanceVersion, updateTime: new Date().toISOString() };
      await this.catalog.write(record);
      log.warn("collection changed after its last recorded write; version bumped", { tenant: scope.tenant, collection: scope.collection, version: record.version });
    }
    this.records.set(key, record);
    return record;
  }

  private async table(scope: Scope): Promise<Table> {
    const key = this.key(scope);
    let table = this.tables.get(key);
    if (!table) {
      table = await this.db.openTable(key);
      this.tables.set(key, table);
    }
    return table;
  }

  private async create(scope: Scope, dimensions: number): Promise<CatalogRecord> {
    const key = this.key(scope);
    const existing = (await this.db.tableNames()).includes(key);
    // A table without a record is left over from a first upsert that died before recording anything.
    if (existing) await this.db.dropTable(key);
    const table = await this.db.createEmptyTable(key, pointSchema(dimensions));
    await table.createIndex("text", { config: Index.fts(this.opts.fts), name: FTS_INDEX });
    this.tables.set(key, table);
    const now = new Date().toISOString();
    const record: CatalogRecord = { tenant: scope.tenant, name: scope.collection, dimensions, version: 0, lanceVersion: await table.version(), createTime: now, updateTime: now };
    await this.catalog.write(record);
    this.records.set(key, record);
    return record;
  }

  /** Records a committed write: one version step, and the table version it produced. */
  private async committed(scope: Scope, record: CatalogRecord, lanceVersion: number): Promise<CatalogRecord> {
    const next = { ...record, version: record.version + 1, lanceVersion, updateTime: new Date().toISOString() };
    await this.catalog.write(next);
    this.records.set(this.key(scope), next);
    await this.maybeOptimize(scope, next);
    return this.records.get(this.key(scope))!;
  }

  /**
   * New rows are searchable at once (LanceDB scans what its indexes do not cover), but that scan is slow
   * (about 10x on 2,000 passages) and small files pile up, so once enough rows or writes accumulate the
   * table is compacted and its indexes brought up to date. Not a content change: the collection version
   * stays, only the recorded table version moves.
   */
  private async maybeOptimize(scope: Scope, record: CatalogRecord): Promise<void> {
    const key = this.key(scope);
    const writes = (this.writesSinceOptimize.get(key) ?? 0) + 1;
    this.writesSinceOptimize.set(key, writes);
    const table = await this.table(scope);
    const unindexed = (await table.indexStats(FTS_INDEX))?.numUnindexedRows ?? 0;
    if (writes < this.opts.optimizeEvery && unindexed < this.opts.maxUnindexedRows) return;
    this.writesSinceOptimize.set(key, 0);
    await table.optimize({ cleanupOlderThan: new Date(Date.now() - 60_000) });
    const next = { ...record, lanceVersion: await table.version() };
    await this.catalog.write(next);
    this.records.set(key, next);
  }

  async upsert(scope: Scope, points: IndexPoint[]): Promise<{ upserted: number; version: number }> {
    return this.exclusive(scope, async () => {
      const dimensions = points[0]!.vector.length;
      let record = await this.loadRecord(scope);
      if (record && record.dimensions !== dimensions) {
        throw new InvalidArgumentError("points[0].vector", `has ${dimensions} dimensions but collection ${JSON.stringify(scope.collection)} holds ${record.dimensions}-dimensional vectors`);
      }
      record ??= await this.create(scope, dimensions);
      const table = await this.table(scope);
      const result = await table.mergeInsert("chunk_id").whenMatchedUpdateAll().whenNotMatchedInsertAll().execute(points.map(toRow));
      record = await this.committed(scope, record, result.version);
      return { upserted: points.length, version: record.version };
    });
  }

  async delete(scope: Scope, selector: PointSelector): Promise<{ deleted: number; version: number }> {
    return this.exclusive(scope, async () => {
      const record = await this.loadRecord(scope);
      if (!record) return { deleted: 0, version: 0 };
      const table = await this.table(scope);
      const predicate = selectorClause(selector.documentIds, selector.chunkIds);
      if ((await table.countRows(predicate)) === 0) return { deleted: 0, version: record.version };
      const result = await table.delete(predicate);
      const next = await this.committed(scope, record, result.version);
      return { deleted: result.numDeletedRows, version: next.version };
    });
  }

  async search(scope: Scope, query: SearchQuery): Promise<{ hits: ScoredPoint[]; version: number }> {
    const record = await this.record(scope);
    if (!record || record.version === 0) return { hits: [], version: 0 };
    if (query.vector && query.vector.length !== record.dimensions) {
      throw new InvalidArgumentError("vector", `has ${query.vector.length} dimensions but collection ${JSON.stringify(scope.collection)} holds ${record.dimensions}-dimensional vectors`);
    }
    const table = await this.table(scope);
    const where = whereClause(query.filter);
    const hybrid = query.retrievers.length === 2;
    const depth = hybrid ? query.candidates : query.topK;
    const columns = query.includeVectors ? [...POINT_COLUMNS, "vector"] : POINT_COLUMNS;

    const [dense, sparse] = await Promise.all([
      query.retrievers.includes("dense") && query.vector ? this.dense(table, query.vector, where, depth, columns) : [],
      query.retrievers.includes("sparse") && query.text ? this.sparse(table, query.text, where, depth, columns) : [],
    ]);
    const fused = fuse(dense, sparse, query.fusion, query.topK);
    const hits = fused.map((f) => ({
      point: f.item,
      score: hybrid ? f.score : f.denseRank > 0 ? f.denseScore : f.sparseScore,
      denseScore: f.denseScore,
      sparseScore: f.sparseScore,
      denseRank: f.denseRank,
      sparseRank: f.sparseRank,
    }));
    return { hits, version: record.version };
  }

  private async dense(table: Table, vector: number[], where: string | undefined, limit: number, columns: string[]): Promise<Ranked<IndexPoint>[]> {
    let q = table.vectorSearch(vector).column("vector").distanceType("cosine").select([...columns, "_distance"]).limit(limit);
    if (where) q = q.where(where);
    const rows = (await q.toArray()) as Record<string, unknown>[];
    // LanceDB's cosine distance is 1 - cosine similarity.
    return rows.map((r) => ({ id: String(r.chunk_id), score: 1 - Number(r._distance), item: fromRow(r) }));
  }

  private async sparse(table: Table, text: string, where: string | undefined, limit: number, columns: string[]): Promise<Ranked<IndexPoint>[]> {
    // A MatchQuery takes the text as words, never as query syntax, so quotes or "AND" in a question are just words.
    let q = table.query().fullTextSearch(new MatchQuery(text, "text")).select([...columns, "_score"]).limit(limit);
    if (where) q = q.where(where);
    const rows = (await q.toArray()) as Record<string, unknown>[];
    return rows.map((r) => ({ id: String(r.chunk_id), score: Number(r._score), item: fromRow(r) }));
  }

  async getCollection(scope: Scope): Promise<CollectionInfo | undefined> {
    const record = await this.record(scope);
    if (!record || record.version === 0) return undefined;
    const table = await this.table(scope);
    const key = this.key(scope);
    const pointCount = await table.countRows();
    let documents = this.documentCounts.get(key);
    if (documents?.version !== record.version) {
      const ids = new Set<string>();
      for await (const batch of table.query().select(["document_id"])) {
        for (const id of batch.getChild("document_id")?.toArray() ?? []) ids.add(String(id));
      }
      documents = { version: record.version, count: ids.size };
      this.documentCounts.set(key, documents);
    }
    return {
      tenant: record.tenant,
      name: record.name,
      pointCount,
      documentCount: documents.count,
      dimensions: record.dimensions,
      version: record.version,
      createTime: new Date(record.createTime),
      updateTime: new Date(record.updateTime),
    };
  }

  async listCollections(tenant: string, page: { after?: string; limit: number }): Promise<CollectionInfo[]> {
    const out: CollectionInfo[] = [];
    for (const name of await this.catalog.names(tenant)) {
      if (page.after !== undefined && name <= page.after) continue;
      const info = await this.getCollection({ tenant, collection: name });
      if (info) out.push(info);
      if (out.length >= page.limit) break;
    }
    return out;
  }

  async ready(): Promise<void> {
    await this.db.tableNames();
  }

  async close(): Promise<void> {
    for (const t of this.tables.values()) t.close();
    this.tables.clear();
    this.db.close();
  }
}
