import type pg from "pg";
import type { Chunk } from "#gen/rag/v1/documents.js";
import { inTransaction } from "#mesh/postgres.js";

export type StoredStatus = "PENDING" | "INDEXING" | "INDEXED" | "FAILED";

export interface DocumentRow {
  tenant_id: string;
  document_id: string;
  seq: string;
  collection: string;
  title: string;
  filename: string;
  content_type: string;
  source_uri: string;
  tags: string[];
  metadata: Record<string, string>;
  /** Only read when asked for: bodies can be megabytes. */
  body?: string;
  content_hash: string;
  size_bytes: string;
  text_length: number;
  chunk_count: number;
  status: StoredStatus;
  status_message: string;
  version: string;
  create_time: Date;
  update_time: Date;
  index_time: Date | null;
}

export interface ChunkRow {
  document_id: string;
  chunk_index: number;
  chunk_id: string;
  text: string;
  start_offset: number;
  end_offset: number;
  heading_path: string[];
  content_hash: string;
  token_count: number;
}

/** What an update needs to know about the chunks a document has now. */
export type ChunkKey = Pick<ChunkRow, "chunk_id" | "chunk_index" | "heading_path">;

/** A chunk as written: the chunker's piece with its id. */
export type ChunkRecord = Omit<Chunk, "documentId">;

/** The metadata a writer sets. */
export interface DocumentMeta {
  title: string;
  filename: string;
  contentType: string;
  sourceUri: string;
  tags: string[];
  metadata: Record<string, string>;
}

export interface DocumentBody {
  text: string;
  contentHash: string;
  sizeBytes: number;
  textLength: number;
}

export interface NewDocument extends DocumentMeta, DocumentBody {
  documentId: string;
  collection: string;
}

export interface ListFilter {
  collection: string;
  tag: string;
  status: StoredStatus | "";
  sourceUri: string;
}

const COLUMNS = `tenant_id, document_id, seq, collection, title, filename, content_type, source_uri, tags, metadata,
  content_hash, size_bytes, text_length, chunk_count, status, status_message, version, create_time, update_time, index_time`;
const CHUNK_COLUMNS = "document_id, chunk_index, chunk_id, text, start_offset, end_offset, heading_path, content_hash, token_count";
/** Rows per INSERT: bounds one statement's parameters however large the document. */
const CHUNK_BATCH = 500;

/**
 * Documents and their chunks in Postgres. Every statement names the tenant: isolation is in the queries,
 * not the callers. A document and its chunks only ever change together, in one transaction.
 */
export class DocumentStore {
  constructor(private readonly pool: pg.Pool) {}

  async create(tenant: string, doc: NewDocument, chunks: ChunkRecord[], skipDuplicate: boolean): Promise<{ row: DocumentRow; duplicate: boolean }> {
    return inTransaction(this.pool, async (db) => {
      if (skipDuplicate) {
        // Serialise creators of the same content so two concurrent uploads cannot both miss each other.
        await db.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`${tenant}/${doc.collection}/${doc.contentHash}`]);
        const existing = await db.query<DocumentRow>(
          `SELECT ${COLUMNS} FROM documents WHERE tenant_id = $1 AND collection = $2 AND content_hash = $3 ORDER BY seq LIMIT 1`,
          [tenant, doc.collection, doc.contentHash],
        );
        if (existing.rows[0]) return { row: existing.rows[0], duplicate: true };
      }
      const inserted = await db.query<DocumentRow>(
        `INSERT INTO documents (tenant_id, document_id, collection, title, filename, content_type, source_uri, tags, metadata,
           body, content_hash, size_bytes, text_length, chunk_count, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'PENDING')
         RETURNING ${COLUMNS}`,
        [tenant, doc.documentId, doc.collection, doc.title, doc.filename, doc.contentType, doc.sourceUri, doc.tags, JSON.stringify(doc.metadata),
          doc.text, doc.contentHash, doc.sizeBytes, doc.textLength, chunks.length],
      );
      await insertChunks(db, tenant, doc.documentId, chunks);
      return { row: inserted.rows[0]!, duplicate: false };
    });
  }

  async get(tenant: string, documentId: string, includeBody: boolean): Promise<DocumentRow | undefined> {
    const res = await this.pool.query<DocumentRow>(
      `SELECT ${COLUMNS}${includeBody ? ", body" : ""} FROM documents WHERE tenant_id = $1 AND document_id = $2`,
      [tenant, documentId],
    );
    return res.rows[0];
  }

  /** Newest first; `afterSeq` continues a previous page. Fetches one extra row to know whether more exist. */
  async list(tenant: string, filter: ListFilter, limit: number, afterSeq?: string): Promise<{ rows: DocumentRow[]; more: boolean }> {
    const where = ["tenant_id = $1"];
    const args: unknown[] = [tenant];
    const add = (sql: string, value: unknown) => {
      args.push(value);
      where.push(sql.replace("?", `$${args.length}`));
    };
    if (filter.collection) add("collection = ?", filter.collection);
    if (filter.tag) add("? = ANY(tags)", filter.tag);
    if (filter.status) add("status = ?", filter.status);
    if (filter.sourceUri) add("source_uri = ?", filter.sourceUri);
    if (afterSeq !== undefined) add("seq < ?", afterSeq);
    args.push(limit + 1);
    const res = await this.pool.query<DocumentRow>(
      `SELECT ${COLUMNS} FROM documents WHERE ${where.join(" AND ")} ORDER BY seq DESC LIMIT $${args.length}`,
      args,
    );
    return { rows: res.rows.slice(0, limit), more: res.rows.length > limit };
  }

  /**
   * One page of a document's chunks in document order, with the document's version read in the same
   * statement (one snapshot), so a caller can tell when the chunks changed between its pages.
   * Undefined when the tenant has no such document.
   */
  async listChunks(tenant: string, documentId: string, limit: number, afterIndex: number): Promise<{ version: string; rows: ChunkRow[]; more: boolean } | undefined> {
    const res = await this.pool.query<{ version: string } & { [K in keyof ChunkRow]: ChunkRow[K] | null }>(
      `SELECT d.version, c.*
         FROM documents d
         LEFT JOIN LATERAL (
           SELECT ${CHUNK_COLUMNS} FROM chunks
            WHERE tenant_id = d.tenant_id AND document_id = d.document_id AND chunk_index > $3
            ORDER BY chunk_index LIMIT $4
         ) c ON true
        WHERE d.tenant_id = $1 AND d.document_id = $2`,
      [tenant, documentId, afterIndex, limit + 1],
    );
    if (res.rows.length === 0) return undefined;
    const rows = res.rows.filter((r) => r.chunk_id !== null) as unknown as ChunkRow[];
    return { version: res.rows[0]!.version, rows: rows.slice(0, limit), more: rows.length > limit };
  }

  /**
   * Runs `fn` with the document locked (SELECT … FOR UPDATE) inside one transaction: whatever `fn` does
   * through the handle, and whatever else it awaits meanwhile (a call to the index), commits together or
   * not at all. Concurrent writers of the same document wait their turn. Undefined when there is no such
   * document in the tenant.
   */
  async locked<T>(tenant: string, documentId: string, fn: (doc: LockedDocument) => Promise<T>): Promise<T | undefined> {
    return inTransaction(this.pool, async (db) => {
      const current = await db.query<DocumentRow>(`SELECT ${COLUMNS} FROM documents WHERE tenant_id = $1 AND document_id = $2 FOR UPDATE`, [tenant, documentId]);
      if (!current.rows[0]) return undefined;
      return fn(new LockedDocument(db, current.rows[0]));
    });
  }
}

/** A document row held under lock: the only way to change an existing document. */
export class LockedDocument {
  constructor(
    private readonly db: pg.PoolClient,
    readonly row: DocumentRow,
  ) {}

  private get key(): [string, string] {
    return [this.row.tenant_id, this.row.document_id];
  }

  async chunkKeys(): Promise<ChunkKey[]> {
    const res = await this.db.query<ChunkKey>("SELECT chunk_id, chunk_index, heading_path FROM chunks WHERE tenant_id = $1 AND document_id = $2 ORDER BY chunk_index", this.key);
    return res.rows;
  }

  /**
   * Writes new metadata and bumps the version. With `body`, the text changes too; with `chunks`, the
   * document's chunks are replaced by these.
   */
  async update(meta: DocumentMeta, status: StoredStatus, body?: DocumentBody, chunks?: ChunkRecord[]): Promise<DocumentRow> {
    const b = body ?? { text: null, contentHash: null, sizeBytes: null, textLength: null };
    const updated = await this.db.query<DocumentRow>(
      `UPDATE documents SET title = $3, filename = $4, content_type = $5, source_uri = $6, tags = $7, metadata = $8,
         body = COALESCE($9, body), content_hash = COALESCE($10, content_hash), size_bytes = COALESCE($11, size_bytes),
         text_length = COALESCE($12, text_length), chunk_count = COALESCE($13, chunk_count),
         status = $14, status_message = CASE WHEN status = $14 THEN status_message ELSE '' END,
         version = version + 1, update_time = now()
       WHERE tenant_id = $1 AND document_id = $2
       RETURNING ${COLUMNS}`,
      [...this.key, meta.title, meta.filename, meta.contentType, meta.sourceUri, meta.tags, JSON.stringify(meta.metadata),
        b.text, b.contentHash, b.sizeBytes, b.textLength, chunks?.length ?? null, status],
    );
    if (chunks) {
      await this.db.query("DELETE FROM chunks WHERE tenant_id = $1 AND document_id = $2", this.key);
      await insertChunks(this.db, ...this.key, chunks);
    }
    return updated.rows[0]!;
  }

  /** Records an indexing outcome; not a revision, so the version stays. */
  async setStatus(status: StoredStatus, message: string): Promise<DocumentRow> {
    const res = await this.db.query<DocumentRow>(
      `UPDATE documents SET status = $3, status_message = $4, update_time = now(),
         index_time = CASE WHEN $3 = 'INDEXED' THEN now() ELSE index_time END
       WHERE tenant_id = $1 AND document_id = $2
       RETURNING ${COLUMNS}`,
      [...this.key, status, message],
    );
    return res.rows[0]!;
  }

  /** Deletes the document; its chunks go with it (ON DELETE CASCADE). */
  async delete(): Promise<void> {
    await this.db.query("DELETE FROM documents WHERE tenant_id = $1 AND document_id = $2", this.key);
  }
}

async function insertChunks(db: pg.PoolClient, tenant: string, documentId: string, chunks: ChunkRecord[]): Promise<void> {
  for (let i = 0; i < chunks.length; i += CHUNK_BATCH) {
    const batch = chunks.slice(i, i + CHUNK_BATCH);
    // One statement per batch: columns as arrays, unnested into rows. heading_path is an array per row,
    // which unnest cannot take as a 2-D array, so it travels as JSON.
    await db.query(
      `INSERT INTO chunks (tenant_id, document_id, ${CHUNK_COLUMNS.replace("document_id, ", "")})
       SELECT $1, $2, u.chunk_index, u.chunk_id, u.text, u.start_offset, u.end_offset,
              ARRAY(SELECT jsonb_array_elements_text(u.heading_path)), u.content_hash, u.token_count
         FROM unnest($3::int[], $4::uuid[], $5::text[], $6::int[], $7::int[], $8::jsonb[], $9::text[], $10::int[])
           AS u(chunk_index, chunk_id, text, start_offset, end_offset, heading_path, content_hash, token_count)`,
      [
        tenant,
        documentId,
        batch.map((c) => c.index),
        batch.map((c) => c.chunkId),
        batch.map((c) => c.text),
        batch.map((c) => c.startOffset),
        batch.map((c) => c.endOffset),
        batch.map((c) => JSON.stringify(c.headingPath)),
        batch.map((c) => c.contentHash),
        batch.map((c) => c.tokenCount),
      ],
    );
  }
}
