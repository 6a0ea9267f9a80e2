import { createHash } from "node:crypto";
import { status as grpcStatus } from "@grpc/grpc-js";
import {
  CreateDocumentRequest,
  DeleteDocumentRequest,
  DocumentStatus,
  ListDocumentsRequest,
  UpdateDocumentRequest,
  type Chunk,
  type Document,
} from "#gen/rag/v1/documents.js";
import { errorDetails, isServiceError } from "#mesh/errors.js";
import type { SourceItem } from "./connectors/types.js";
import type { StageName } from "./convert.js";
import { chunksToIndex, describeError, indexChunks, listAllChunks, StageError, type IndexSettings } from "./indexer.js";
import { lengthProblem, measureText, type LengthProblem } from "./quality.js";
import type { JobStore, QualitySettings } from "./store.js";

export interface PipelineContext extends IndexSettings {
  tenant: string;
  collection: string;
  tags: string[];
  metadata: Record<string, string>;
  quality: QualitySettings;
  store: JobStore;
  /** Content hashes of the documents this job stored: in-job duplicates, counted when they are kept. */
  jobHashes: Set<string>;
}

export type SkipReason = "unchanged" | LengthProblem | "duplicate";

export type ItemOutcome =
  | { result: "succeeded"; document: Document; created: boolean; chunksIndexed: number; duplicateKept: boolean }
  | { result: "skipped"; reason: SkipReason; document?: Document }
  | { result: "failed"; stage: StageName; message: string; unparseable: boolean };

/** Fields whose INVALID_ARGUMENT from documents means the bytes themselves could not be read. */
const BODY_FIELDS = new Set(["content", "content_type", "text"]);

/**
 * One item through the pipeline: quality checks, store (create, update, or nothing when unchanged), then
 * embed and index the chunks that need it. Never throws: every failure becomes the item's outcome.
 */
export async function ingestItem(item: SourceItem, ctx: PipelineContext): Promise<ItemOutcome> {
  if (item.content.length === 0) return { result: "skipped", reason: "empty" };
  const measured = measureText(item.content, item.contentType, item.filename);
  const early = measured === undefined ? undefined : lengthProblem(measured, ctx.quality.minTextLength);
  if (early) return { result: "skipped", reason: early };

  let stored: Stored;
  try {
    stored = await storeItem(item, ctx, measured !== undefined);
  } catch (err) {
    // A body with no text at all is a quality finding, not a failure (e.g. a pdf without a text layer).
    if (isBodyRejection(err) && /\bempty\b/i.test(describeError(err))) return { result: "skipped", reason: "empty" };
    return failure(err, "STORE");
  }
  if (stored.kind === "skipped") return { result: "skipped", reason: stored.reason, document: stored.document };

  const doc = stored.document;
  let written: number;
  try {
    const chunks = await listAllChunks(doc.documentId, ctx);
    written = await indexChunks(doc, chunksToIndex(chunks, stored.indexedChunks), item.documentTime, ctx);
    await ctx.store.recordIngested(ctx.tenant, ctx.collection, item.sourceUri, {
      documentId: doc.documentId,
      rawHash: stored.rawHash,
      contentHash: doc.contentHash,
      version: doc.version,
    });
  } catch (err) {
    return failure(err, "INDEX");
  }
  return { result: "succeeded", document: doc, created: stored.kind === "created", chunksIndexed: written, duplicateKept: stored.duplicateKept };
}

type Stored =
  | { kind: "skipped"; reason: SkipReason; document?: Document }
  | {
      kind: "created" | "updated";
      document: Document;
      rawHash: string;
      /** Chunks already in the index for this document, when only the difference needs indexing. */
      indexedChunks: Chunk[] | undefined;
      duplicateKept: boolean;
    };

async function storeItem(item: SourceItem, ctx: PipelineContext, measured: boolean): Promise<Stored> {
  const docs = ctx.clients.documents;
  const rawHash = createHash("sha256").update(item.content).digest("hex");
  const metadata = { ...ctx.metadata, ...item.metadata };
  const found = await docs.listDocuments(ListDocumentsRequest.fromPartial({ collection: ctx.collection, sourceUri: item.sourceUri, pageSize: 1 }), ctx.call());
  const existing = found.documents[0];

  if (!existing) {
    const { document, duplicate } = await docs.createDocument(
      CreateDocumentRequest.fromPartial({
        title: item.title,
        content: item.content,
        filename: item.filename,
        contentType: item.contentType,
        sourceUri: item.sourceUri,
        collection: ctx.collection,
        tags: ctx.tags,
        metadata,
        skipDuplicate: !ctx.quality.keepDuplicates,
      }),
      ctx.call(),
    );
    if (!document) throw new Error("documents returned no document");
    if (duplicate) return { kind: "skipped", reason: "duplicate", document };
    // Formats only documents can read (pdf, docx) are checked once their text exists; a failed check
    // removes the document again, so a skipped item leaves nothing behind.
    const problem = measured ? undefined : lengthProblem(document.textLength, ctx.quality.minTextLength);
    if (problem) {
      await docs.deleteDocument(DeleteDocumentRequest.fromPartial({ documentId: document.documentId }), ctx.call());
      return { kind: "skipped", reason: problem };
    }
    const duplicateKept = ctx.jobHashes.has(document.contentHash);
    ctx.jobHashes.add(document.contentHash);
    return { kind: "created", document, rawHash, indexedChunks: undefined, duplicateKept };
  }

  const tags = [...new Set([...existing.tags, ...ctx.tags])];
  const mergedMetadata = { ...existing.metadata, ...metadata };
  const labelsSame = sameList(tags, existing.tags) && sameMap(mergedMetadata, existing.metadata) && (item.title === "" || item.title === existing.title);
  const indexed = existing.status === DocumentStatus.DOCUMENT_STATUS_INDEXED;
  const ledger = await ctx.store.ledger(ctx.tenant, ctx.collection, item.sourceUri);
  if (indexed && labelsSame && ledger?.documentId === existing.documentId && ledger.rawHash === rawHash && ledger.contentHash === existing.contentHash) {
    return { kind: "skipped", reason: "unchanged", document: existing };
  }

  // Keep the chunk ids the index holds now: after the update only new ones need embedding.
  const before = indexed ? await listAllChunks(existing.documentId, ctx) : undefined;
  const mask = ["content", "filename", "tags", "metadata", ...(item.contentType ? ["content_type"] : []), ...(item.title ? ["title"] : [])];
  const { document } = await docs.updateDocument(
    UpdateDocumentRequest.fromPartial({
      documentId: existing.documentId,
      updateMask: mask,
      content: item.content,
      filename: item.filename,
      contentType: item.contentType,
      title: item.title,
      tags,
      metadata: mergedMetadata,
      expectedVersion: existing.version,
    }),
    ctx.call(),
  );
  if (!document) throw new Error("documents returned no document");
  const bodySame = document.contentHash === existing.contentHash;
  if (indexed && bodySame && labelsSame) {
    // Other bytes, same text (e.g. re-saved with other line ends): nothing to index.
    await ctx.store.recordIngested(ctx.tenant, ctx.collection, item.sourceUri, { documentId: document.documentId, rawHash, contentHash: document.contentHash, version: document.version });
    return { kind: "skipped", reason: "unchanged", document };
  }
  // New titles, tags or metadata live in every point's payload: then every chunk is written again.
  return { kind: "updated", document, rawHash, indexedChunks: labelsSame ? before : undefined, duplicateKept: false };
}

function failure(err: unknown, fallback: StageName): ItemOutcome {
  const cause = err instanceof StageError ? err.cause : err;
  let stage = err instanceof StageError ? err.stage : fallback;
  const unparseable = stage === "STORE" && isBodyRejection(cause);
  if (unparseable) stage = "PARSE";
  return { result: "failed", stage, message: describeError(err), unparseable };
}

/** documents refused the bytes themselves (corrupt, unsupported type, bad encoding, no text). */
function isBodyRejection(err: unknown): boolean {
  return isServiceError(err) && err.code === grpcStatus.INVALID_ARGUMENT && BODY_FIELDS.has(String(errorDetails(err).field));
}

function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function sameMap(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}
