import { DocumentStatus, type Chunk, type Document } from "#gen/rag/v1/documents.js";
import { InvalidArgumentError } from "#mesh/errors.js";
import type { ChunkRow, DocumentRow, StoredStatus } from "./store.js";

/* Rows to messages, and the status enum both ways. */

const STATUS_TO_PROTO: Record<StoredStatus, DocumentStatus> = {
  PENDING: DocumentStatus.DOCUMENT_STATUS_PENDING,
  INDEXING: DocumentStatus.DOCUMENT_STATUS_INDEXING,
  INDEXED: DocumentStatus.DOCUMENT_STATUS_INDEXED,
  FAILED: DocumentStatus.DOCUMENT_STATUS_FAILED,
};

export function fromStatus(status: DocumentStatus, field = "status"): StoredStatus {
  const found = (Object.entries(STATUS_TO_PROTO) as [StoredStatus, DocumentStatus][]).find(([, v]) => v === status);
  if (!found) throw new InvalidArgumentError(field, `unknown status ${status}`);
  return found[0];
}

export function toDocument(row: DocumentRow): Document {
  return {
    documentId: row.document_id,
    tenantId: row.tenant_id,
    collection: row.collection,
    title: row.title,
    filename: row.filename,
    contentType: row.content_type,
    sourceUri: row.source_uri,
    tags: row.tags,
    metadata: row.metadata,
    contentHash: row.content_hash,
    sizeBytes: String(row.size_bytes),
    chunkCount: row.chunk_count,
    status: STATUS_TO_PROTO[row.status],
    statusMessage: row.status_message,
    text: row.body ?? "",
    textLength: row.text_length,
    createTime: row.create_time,
    updateTime: row.update_time,
    indexTime: row.index_time ?? undefined,
    version: String(row.version),
  };
}

export function toChunk(row: ChunkRow): Chunk {
  return {
    chunkId: row.chunk_id,
    documentId: row.document_id,
    index: row.chunk_index,
    text: row.text,
    startOffset: row.start_offset,
    endOffset: row.end_offset,
    headingPath: row.heading_path,
    contentHash: row.content_hash,
    tokenCount: row.token_count,
  };
}
