import { status as grpcStatus } from "@grpc/grpc-js";
import { DocumentStatus, ListChunksRequest, UpdateDocumentStatusRequest, type Chunk, type Document } from "#gen/rag/v1/documents.js";
import { EmbeddingInputType, EmbedRequest } from "#gen/rag/v1/embeddings.js";
import { DeleteRequest, UpsertRequest } from "#gen/rag/v1/retrieval.js";
import type { CallOptions } from "#mesh/client.js";
import type { Clients } from "./clients.js";
import type { StageName } from "./convert.js";

/** An error tagged with the pipeline stage it happened in. */
export class StageError extends Error {
  constructor(
    readonly stage: StageName,
    override readonly cause: unknown,
  ) {
    super(describeError(cause));
    this.name = "StageError";
  }
}

/** A failure as the job's owner sees it: the gRPC code and message of a dependency, or the error message. */
export function describeError(err: unknown): string {
  if (err instanceof StageError) return err.message;
  const e = err as { code?: unknown; details?: unknown; message?: unknown };
  if (typeof e?.code === "number" && typeof e.details === "string") return `${codeName(e.code)}: ${e.details}`;
  return err instanceof Error ? err.message : String(err);
}

const codeName = (code: number) => grpcStatus[code] ?? `code ${code}`;

async function tagged<T>(stage: StageName, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    throw new StageError(stage, err);
  }
}

export interface IndexSettings {
  clients: Clients;
  call: () => CallOptions;
  embedBatch: number;
  model: string;
}

const MAX_CHUNK_PAGES = 10_000;
/** ListChunks answers ABORTED when the document changes between pages: the listing starts over. */
const CHUNK_LISTING_ATTEMPTS = 3;

export async function listAllChunks(documentId: string, s: IndexSettings): Promise<Chunk[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await listChunkPages(documentId, s);
    } catch (err) {
      if ((err as { code?: number }).code !== grpcStatus.ABORTED || attempt >= CHUNK_LISTING_ATTEMPTS) throw new StageError("STORE", err);
    }
  }
}

async function listChunkPages(documentId: string, s: IndexSettings): Promise<Chunk[]> {
  const out: Chunk[] = [];
  let pageToken = "";
  for (let page = 0; page < MAX_CHUNK_PAGES; page++) {
    const res = await s.clients.documents.listChunks(ListChunksRequest.fromPartial({ documentId, pageSize: 1000, pageToken }), s.call());
    out.push(...res.chunks);
    pageToken = res.nextPageToken;
    if (!pageToken) return out;
  }
  throw new Error(`document ${documentId} has more than ${MAX_CHUNK_PAGES} pages of chunks`);
}

/**
 * Which chunks need a (new) point. With the chunks the index already holds for this document (`indexed`),
 * only those not among them, or whose position or headings moved, are embedded again; without, all are.
 */
export function chunksToIndex(chunks: Chunk[], indexed: Chunk[] | undefined): Chunk[] {
  if (!indexed) return chunks;
  const before = new Map(indexed.map((c) => [c.chunkId, c]));
  return chunks.filter((c) => {
    const old = before.get(c.chunkId);
    return !old || old.index !== c.index || old.headingPath.join("\u0000") !== c.headingPath.join("\u0000");
  });
}

/**
 * Embeds and upserts `chunks` of `doc`, then marks the document INDEXED at the version indexed (documents
 * refuses that if the document changed meanwhile). Returns the number of points written.
 */
export async function indexChunks(doc: Document, chunks: Chunk[], documentTime: Date | undefined, s: IndexSettings): Promise<number> {
  const status = (st: DocumentStatus, message = "") =>
    s.clients.documents.updateDocumentStatus(UpdateDocumentStatusRequest.fromPartial({ documentId: doc.documentId, status: st, statusMessage: message, indexedVersion: doc.version }), s.call());
  await tagged("INDEX", status(DocumentStatus.DOCUMENT_STATUS_INDEXING));
  const upserted: string[] = [];
  try {
    for (let i = 0; i < chunks.length; i += s.embedBatch) {
      const batch = chunks.slice(i, i + s.embedBatch);
      const embedded = await tagged("EMBED", s.clients.embeddings.embed(EmbedRequest.fromPartial({ texts: batch.map((c) => c.text), model: s.model, inputType: EmbeddingInputType.EMBEDDING_INPUT_TYPE_DOCUMENT }), s.call()));
      if (embedded.vectors.length !== batch.length) {
        throw new StageError("EMBED", new Error(`embeddings returned ${embedded.vectors.length} vectors for ${batch.length} texts`));
      }
      const points = batch.map((c, j) => ({
        chunkId: c.chunkId,
        documentId: doc.documentId,
        vector: embedded.vectors[j]!.values,
        text: c.text,
        title: doc.title,
        sourceUri: doc.sourceUri,
        headingPath: c.headingPath,
        chunkIndex: c.index,
        tags: doc.tags,
        metadata: doc.metadata,
        documentTime: documentTime ?? doc.createTime,
      }));
      await tagged("INDEX", s.clients.retrieval.upsert(UpsertRequest.fromPartial({ collection: doc.collection, points }), s.call()));
      upserted.push(...batch.map((c) => c.chunkId));
    }
    await tagged("INDEX", status(DocumentStatus.DOCUMENT_STATUS_INDEXED));
  } catch (err) {
    // Best effort: the item error is what matters; the document keeps saying why it is not searchable.
    await removeStalePoints(doc, upserted, s).catch(() => undefined);
    await status(DocumentStatus.DOCUMENT_STATUS_FAILED, describeError(err).slice(0, 1000)).catch(() => undefined);
    throw err;
  }
  return chunks.length;
}

/**
 * After a failed run, the points it wrote must not outlive their chunks: the document may have been
 * updated (stale chunk ids; documents then refuses INDEXED with ABORTED) or deleted while we indexed, and
 * documents only removed the points that existed when it changed.
 */
async function removeStalePoints(doc: Document, upserted: string[], s: IndexSettings): Promise<void> {
  if (upserted.length === 0) return;
  let current: Set<string>;
  try {
    current = new Set((await listAllChunks(doc.documentId, s)).map((c) => c.chunkId));
  } catch (err) {
    if ((err as StageError).cause && ((err as StageError).cause as { code?: number }).code === grpcStatus.NOT_FOUND) {
      await s.clients.retrieval.delete(DeleteRequest.fromPartial({ collection: doc.collection, documentIds: [doc.documentId] }), s.call());
      return;
    }
    throw err;
  }
  const stale = upserted.filter((id) => !current.has(id));
  if (stale.length > 0) await s.clients.retrieval.delete(DeleteRequest.fromPartial({ collection: doc.collection, chunkIds: stale }), s.call());
}
