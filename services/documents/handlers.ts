import {
  DocumentStatus,
  type Document,
  type DocumentsServiceService,
  type UpdateDocumentRequest,
} from "#gen/rag/v1/documents.js";
import { requireTenant } from "#mesh/context.js";
import { AbortedError, InvalidArgumentError, NotFoundError } from "#mesh/errors.js";
import { notImplemented, type ServiceImpl } from "#mesh/handlers.js";
import { decodePageToken, encodePageToken, pageSize } from "#mesh/pagination.js";
import { firstHeading, parseBody, resolveContentType, SUPPORTED_TYPES } from "./body.js";
import type { DocumentFields, DocumentRow, DocumentStore, StoredStatus } from "./store.js";
import * as valid from "./validate.js";

type Impl = ServiceImpl<typeof DocumentsServiceService>;

export interface DocumentsOptions {
  maxDocumentBytes: number;
}

const UPDATABLE = ["title", "source_uri", "tags", "metadata", "text", "content", "filename", "content_type"] as const;
type UpdatablePath = (typeof UPDATABLE)[number];

export function documentsService(store: DocumentStore, opts: DocumentsOptions, definition: typeof DocumentsServiceService): Impl {
  const notFound = (id: string) => new NotFoundError("document", id);
  const documentId = (value: string) => valid.requiredId("document_id", value);

  return {
    async createDocument(req, ctx) {
      const tenant = requireTenant(ctx);
      const body = parseBody({ text: req.text, content: req.content, filename: req.filename, contentType: req.contentType }, opts.maxDocumentBytes);
      const filename = valid.filename(req.filename);
      const title = valid.title(req.title) || firstHeading(body.text, body.contentType) || stripExtension(filename);
      if (!title) throw new InvalidArgumentError("title", "required: give a title (or a filename or a leading markdown heading to take it from)");
      const fields: DocumentFields = {
        collection: valid.collectionName(req.collection),
        title,
        filename,
        contentType: body.contentType,
        sourceUri: valid.sourceUri(req.sourceUri),
        tags: valid.tags(req.tags),
        metadata: valid.metadata(req.metadata),
        body: body.text,
        contentHash: body.contentHash,
        sizeBytes: body.sizeBytes,
        textLength: body.textLength,
      };
      const { row, duplicate } = await store.create(tenant, fields, req.skipDuplicate);
      return { document: toDocument(row), duplicate };
    },

    async getDocument(req, ctx) {
      const tenant = requireTenant(ctx);
      const id = documentId(req.documentId);
      const row = valid.isUuid(id) ? await store.get(tenant, id, req.includeText) : undefined;
      if (!row) throw notFound(id);
      return { document: toDocument(row) };
    },

    async listDocuments(req, ctx) {
      const tenant = requireTenant(ctx);
      const filter = {
        collection: req.collection === "" ? "" : valid.collectionName(req.collection),
        tag: req.tag.trim(),
        status: req.status === DocumentStatus.DOCUMENT_STATUS_UNSPECIFIED ? ("" as const) : fromStatus(req.status),
        sourceUri: req.sourceUri.trim(),
      };
      const limit = pageSize(req.pageSize, { default: 50, max: 1000 });
      const after = decodePageToken<{ seq: string }>(req.pageToken, filter);
      if (after && !/^\d+$/.test(String(after.seq))) throw new InvalidArgumentError("page_token", "malformed; pass next_page_token from the previous response unchanged");
      const { rows, more } = await store.list(tenant, filter, limit, after?.seq);
      return {
        documents: rows.map((r) => toDocument(r)),
        nextPageToken: more ? encodePageToken({ seq: rows[rows.length - 1]!.seq }, filter) : "",
      };
    },

    async updateDocument(req, ctx) {
      const tenant = requireTenant(ctx);
      const id = documentId(req.documentId);
      const paths = updatePaths(req);
      if (paths.has("text") && paths.has("content")) throw new InvalidArgumentError("text", "give either text or content, not both");
      const expected = req.expectedVersion === "" || req.expectedVersion === "0" ? undefined : req.expectedVersion;
      const row = !valid.isUuid(id)
        ? undefined
        : await store.update(tenant, id, (current) => {
            if (expected !== undefined && current.version !== expected) {
              throw new AbortedError(`document ${id} is at version ${current.version}, not ${expected}: re-read it and retry`);
            }
            const filename = paths.has("filename") ? valid.filename(req.filename) : current.filename;
            const bodyChanged = paths.has("text") || paths.has("content");
            // A new body keeps the document's type unless the caller names one or a new filename implies one.
            const typeHint = paths.has("content_type") ? req.contentType : paths.has("filename") ? "" : current.content_type;
            let body = { text: current.body, contentHash: current.content_hash, sizeBytes: Number(current.size_bytes), textLength: current.text_length, contentType: current.content_type };
            if (bodyChanged) {
              if (req.text === "" && req.content.length === 0) throw new InvalidArgumentError(paths.has("text") ? "text" : "content", "the body cannot be cleared; delete the document instead");
              body = parseBody({ text: req.text, content: req.content, filename, contentType: typeHint }, opts.maxDocumentBytes);
            } else if (paths.has("content_type") || paths.has("filename")) {
              const contentType = resolveContentType(typeHint, filename, true);
              if (!(SUPPORTED_TYPES as readonly string[]).includes(contentType)) {
                throw new InvalidArgumentError("content_type", `${contentType} is not supported; supported: ${SUPPORTED_TYPES.join(", ")}`);
              }
              body = { ...body, contentType };
            }
            let title = current.title;
            if (paths.has("title")) {
              title = valid.title(req.title);
              if (!title) throw new InvalidArgumentError("title", "cannot be cleared: a document always has a title");
            }
            return {
              bodyChanged: bodyChanged && body.contentHash !== current.content_hash,
              fields: {
                collection: current.collection,
                title,
                filename,
                contentType: body.contentType,
                sourceUri: paths.has("source_uri") ? valid.sourceUri(req.sourceUri) : current.source_uri,
                tags: paths.has("tags") ? valid.tags(req.tags) : current.tags,
                metadata: paths.has("metadata") ? valid.metadata(req.metadata) : current.metadata,
                body: body.text,
                contentHash: body.contentHash,
                sizeBytes: body.sizeBytes,
                textLength: body.textLength,
              },
            };
          });
      if (!row) throw notFound(id);
      return { document: toDocument(row) };
    },

    async deleteDocument(req, ctx) {
      const tenant = requireTenant(ctx);
      const id = documentId(req.documentId);
      const deleted = valid.isUuid(id) ? await store.delete(tenant, id) : undefined;
      if (!deleted) throw notFound(id);
      return { deletedChunkCount: deleted.chunkCount };
    },

    // Chunking and indexing arrive with the ingestion pipeline; until then these say so honestly.
    ...notImplemented(definition, "listChunks", "updateDocumentStatus"),
  };
}

/** Which fields an update changes: the mask when given, otherwise every field that is set. */
function updatePaths(req: UpdateDocumentRequest): Set<UpdatablePath> {
  const mask = (req.updateMask ?? []).flatMap((p) => p.split(",")).map((p) => p.trim()).filter(Boolean);
  if (mask.length > 0) {
    for (const p of mask) {
      const snake = p.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`); // JSON clients send camelCase paths
      if (!(UPDATABLE as readonly string[]).includes(snake)) {
        throw new InvalidArgumentError("update_mask", `unknown or immutable field ${JSON.stringify(p)}; updatable: ${UPDATABLE.join(", ")}`);
      }
    }
    return new Set(mask.map((p) => p.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) as UpdatablePath));
  }
  const set = new Set<UpdatablePath>();
  if (req.title !== "") set.add("title");
  if (req.sourceUri !== "") set.add("source_uri");
  if (req.tags.length > 0) set.add("tags");
  if (Object.keys(req.metadata).length > 0) set.add("metadata");
  if (req.text !== "") set.add("text");
  if (req.content.length > 0) set.add("content");
  if (req.filename !== "") set.add("filename");
  if (req.contentType !== "") set.add("content_type");
  if (set.size === 0) throw new InvalidArgumentError("update_mask", "nothing to update: set a field, or name the fields to clear in update_mask");
  return set;
}

function stripExtension(filename: string): string {
  return filename.replace(/\.[A-Za-z0-9]+$/, "").trim();
}

const STATUS_TO_PROTO: Record<StoredStatus, DocumentStatus> = {
  PENDING: DocumentStatus.DOCUMENT_STATUS_PENDING,
  INDEXING: DocumentStatus.DOCUMENT_STATUS_INDEXING,
  INDEXED: DocumentStatus.DOCUMENT_STATUS_INDEXED,
  FAILED: DocumentStatus.DOCUMENT_STATUS_FAILED,
};

function fromStatus(status: DocumentStatus): StoredStatus {
  const found = (Object.entries(STATUS_TO_PROTO) as [StoredStatus, DocumentStatus][]).find(([, v]) => v === status);
  if (!found) throw new InvalidArgumentError("status", `unknown status ${status}`);
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
