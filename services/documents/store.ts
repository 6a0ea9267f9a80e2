import { randomUUID } from "node:crypto";
import type pg from "pg";
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

/** The fields a writer sets; everything else is the store's. */
export interface DocumentFields {
  collection: string;
  title: string;
  filename: string;
  contentType: string;
  sourceUri: string;
  tags: string[];
  metadata: Record<string, string>;
  body: string;
  contentHash: string;
  sizeBytes: number;
  textLength: number;
}

export interface ListFilter {
  collection: string;
  tag: string;
  status: StoredStatus | "";
  sourceUri: string;
}

const COLUMNS = `tenant_id, document_id, seq, collection, title, filename, content_type, source_uri, tags, metadata,
  content_hash, size_bytes, text_length, chunk_count, status, status_message, version, create_time, update_time, index_time`;

/** Documents in Postgres. Every statement names the tenant: isolation is in the queries, not the callers. */
export class DocumentStore {
  constructor(private readonly pool: pg.Pool) {}

  async create(tenant: string, doc: DocumentFields, skipDuplicate: boolean): Promise<{ row: DocumentRow; duplicate: boolean }> {
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
           body, content_hash, size_bytes, text_length, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'PENDING')
         RETURNING ${COLUMNS}`,
        [tenant, randomUUID(), doc.collection, doc.title, doc.filename, doc.contentType, doc.sourceUri, doc.tags, JSON.stringify(doc.metadata),
          doc.body, doc.contentHash, doc.sizeBytes, doc.textLength],
      );
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
   * Reads the current row under a lock, lets `change` decide the new fields (it may throw to refuse), and
   * writes them with the version bumped — all in one transaction, so concurrent updates cannot interleave.
   */
  async update(
    tenant: string,
    documentId: string,
    change: (current: DocumentRow & { body: string }) => { fields: DocumentFields; bodyChanged: boolean },
  ): Promise<DocumentRow | undefined> {
    return inTransaction(this.pool, async (db) => {
      const current = await db.query<DocumentRow & { body: string }>(
        `SELECT ${COLUMNS}, body FROM documents WHERE tenant_id = $1 AND document_id = $2 FOR UPDATE`,
        [tenant, documentId],
      );
      if (!current.rows[0]) return undefined;
      const { fields: f, bodyChanged } = change(current.rows[0]);
      const updated = await db.query<DocumentRow>(
        `UPDATE documents SET title = $3, filename = $4, content_type = $5, source_uri = $6, tags = $7, metadata = $8,
           body = $9, content_hash = $10, size_bytes = $11, text_length = $12, version = version + 1, update_time = now()
           ${bodyChanged ? ", status = 'PENDING', status_message = '', chunk_count = 0" : ""}
         WHERE tenant_id = $1 AND document_id = $2
         RETURNING ${COLUMNS}`,
        [tenant, documentId, f.title, f.filename, f.contentType, f.sourceUri, f.tags, JSON.stringify(f.metadata), f.body, f.contentHash, f.sizeBytes, f.textLength],
      );
      return updated.rows[0];
    });
  }

  async delete(tenant: string, documentId: string): Promise<{ chunkCount: number } | undefined> {
    const res = await this.pool.query<{ chunk_count: number }>(
      "DELETE FROM documents WHERE tenant_id = $1 AND document_id = $2 RETURNING chunk_count",
      [tenant, documentId],
    );
    return res.rows[0] ? { chunkCount: res.rows[0].chunk_count } : undefined;
  }
}
