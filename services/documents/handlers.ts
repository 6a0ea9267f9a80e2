import { randomUUID } from "node:crypto";
import { DocumentStatus, type DocumentsServiceService } from "#gen/rag/v1/documents.js";
import { requireTenant } from "#mesh/context.js";
import { AbortedError, InvalidArgumentError, NotFoundError } from "#mesh/errors.js";
import type { ServiceImpl } from "#mesh/handlers.js";
import { decodePageToken, encodePageToken, PAGE_DEFAULTS, pageSize } from "#mesh/pagination.js";
import { parseBody } from "./body.js";
import { chunkText } from "./chunking/chunker.js";
import { withChunkIds } from "./chunking/ids.js";
import { fromStatus, toChunk, toDocument } from "./convert.js";
import type { StoredStatus } from "./store.js";
import type { EventPublisher } from "#mesh/events.js";
import { updateDocument, type UpdateDeps } from "./update.js";
import * as valid from "./validate.js";

type Impl = ServiceImpl<typeof DocumentsServiceService>;

export type DocumentsDeps = UpdateDeps & {
  /** Where "document.deleted" goes (best effort; a delete never waits for it). */
  events?: Pick<EventPublisher, "publish">;
};

/** Statuses the indexing pipeline may report; PENDING is the service's own (a new or changed body). */
const REPORTABLE: readonly StoredStatus[] = ["INDEXING", "INDEXED", "FAILED"];

export function documentsService(deps: DocumentsDeps): Impl {
  const { store, index } = deps;
  const notFound = (id: string) => new NotFoundError("document", id);
  const documentId = (value: string) => valid.requiredId("document_id", value);

  return {
    async createDocument(req, ctx) {
      const tenant = requireTenant(ctx);
      // Cheap checks first: a bad tag should not cost a PDF parse.
      const filename = valid.filename(req.filename);
      const meta = {
        collection: valid.collectionName(req.collection),
        sourceUri: valid.sourceUri(req.sourceUri),
        tags: valid.tags(req.tags),
        metadata: valid.metadata(req.metadata),
      };
      const given = valid.title(req.title);
      const body = await parseBody({ text: req.text, content: req.content, filename, contentType: req.contentType }, deps.maxDocumentBytes, deps.parser, ctx.signal);
      const title = given || valid.derivedTitle(body.title) || stripExtension(filename);
      if (!title) throw new InvalidArgumentError("title", "required: give a title (or a filename or a heading in the text to take it from)");
      const id = randomUUID();
      const chunks = withChunkIds(id, chunkText(body, deps.chunking));
      const { row, duplicate } = await store.create(
        tenant,
        { documentId: id, ...meta, title, filename, contentType: body.contentType, text: body.text, contentHash: body.contentHash, sizeBytes: body.sizeBytes, textLength: body.textLength },
        chunks,
        req.skipDuplicate,
      );
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
      const limit = pageSize(req.pageSize, PAGE_DEFAULTS);
      const after = decodePageToken<{ seq: string }>(req.pageToken, filter);
      if (after && !/^\d+$/.test(String(after.seq))) throw malformedToken();
      const { rows, more } = await store.list(tenant, filter, limit, after?.seq);
      return {
        documents: rows.map((r) => toDocument(r)),
        nextPageToken: more ? encodePageToken({ seq: rows[rows.length - 1]!.seq }, filter) : "",
      };
    },

    async updateDocument(req, ctx) {
      const tenant = requireTenant(ctx);
      const id = documentId(req.documentId);
      const row = valid.isUuid(id) ? await updateDocument(deps, tenant, id, req, ctx) : undefined;
      if (!row) throw notFound(id);
      return { document: toDocument(row) };
    },

    async deleteDocument(req, ctx) {
      const tenant = requireTenant(ctx);
      const id = documentId(req.documentId);
      // The index first, under the row lock: if it fails, the rows stay and the caller can retry; if the
      // rows went first, a failure would leave points that no document owns.
      const deleted = valid.isUuid(id)
        ? await store.locked(tenant, id, async (doc) => {
            await index.deleteDocument(doc.row.collection, id);
            await doc.delete();
            return doc.row;
          })
        : undefined;
      if (deleted === undefined) throw notFound(id);
      deps.events?.publish({
        tenant,
        scope: id,
        type: "document.deleted",
        payload: { document_id: id, collection: deleted.collection, source_uri: deleted.source_uri, title: deleted.title, version: String(deleted.version), deleted_by: ctx.callerId ?? "" },
        id: `${id}:deleted`,
      });
      return { deletedChunkCount: deleted.chunk_count };
    },

    async listChunks(req, ctx) {
      const tenant = requireTenant(ctx);
      const id = documentId(req.documentId);
      const limit = pageSize(req.pageSize, { ...PAGE_DEFAULTS, default: 100 });
      const after = decodePageToken<{ index: number; version: string }>(req.pageToken, { documentId: id });
      if (after && !(Number.isInteger(after.index) && after.index >= 0 && /^\d+$/.test(String(after.version)))) throw malformedToken();
      const page = valid.isUuid(id) ? await store.listChunks(tenant, id, limit, after?.index ?? -1) : undefined;
      if (!page) throw notFound(id);
      if (after && after.version !== page.version) {
        throw new AbortedError(`document ${id} changed (version ${after.version} is now ${page.version}) since this listing began: list its chunks again from the first page`);
      }
      const last = page.rows[page.rows.length - 1];
      return {
        chunks: page.rows.map(toChunk),
        nextPageToken: page.more && last ? encodePageToken({ index: last.chunk_index, version: page.version }, { documentId: id }) : "",
      };
    },

    async updateDocumentStatus(req, ctx) {
      const tenant = requireTenant(ctx);
      const id = documentId(req.documentId);
      const status = req.status === DocumentStatus.DOCUMENT_STATUS_UNSPECIFIED ? undefined : fromStatus(req.status);
      if (!status || !REPORTABLE.includes(status)) {
        throw new InvalidArgumentError("status", "must be DOCUMENT_STATUS_INDEXING, DOCUMENT_STATUS_INDEXED or DOCUMENT_STATUS_FAILED");
      }
      const indexedVersion = valid.optionalVersion("indexed_version", req.indexedVersion);
      const message = valid.statusMessage(req.statusMessage);
      const row = valid.isUuid(id)
        ? await store.locked(tenant, id, async (doc) => {
            // A run that indexed an older body must not mark the newer one as indexed (or failed).
            if (indexedVersion !== undefined && doc.row.version !== indexedVersion) {
              throw new AbortedError(`document ${id} is at version ${doc.row.version}: the outcome of indexing version ${indexedVersion} is stale`);
            }
            return doc.setStatus(status, message);
          })
        : undefined;
      if (!row) throw notFound(id);
      return { document: toDocument(row) };
    },
  };
}

function malformedToken(): InvalidArgumentError {
  return new InvalidArgumentError("page_token", "malformed; pass next_page_token from the previous response unchanged");
}

function stripExtension(filename: string): string {
  return filename.replace(/\.[A-Za-z0-9]+$/, "").trim();
}
