import type { UpdateDocumentRequest } from "#gen/rag/v1/documents.js";
import type { CallContext } from "#mesh/context.js";
import { AbortedError, InvalidArgumentError } from "#mesh/errors.js";
import { parseBody, resolveContentType, type ParsedBody } from "./body.js";
import { chunkText, type ChunkOptions } from "./chunking/chunker.js";
import { withChunkIds } from "./chunking/ids.js";
import { requireSupported } from "./parsing/index.js";
import type { DocumentParser } from "./parsing/isolated.js";
import type { SearchIndex } from "./search-index.js";
import type { ChunkKey, ChunkRecord, DocumentMeta, DocumentRow, DocumentStore, LockedDocument, StoredStatus } from "./store.js";
import * as valid from "./validate.js";

const UPDATABLE = ["title", "source_uri", "tags", "metadata", "text", "content", "filename", "content_type"] as const;
type UpdatablePath = (typeof UPDATABLE)[number];

export interface UpdateDeps {
  store: DocumentStore;
  index: SearchIndex;
  maxDocumentBytes: number;
  /** Parses bodies: untrusted files in bounded, isolated workers. */
  parser: DocumentParser;
  chunking: ChunkOptions;
}

/** A new body, parsed and chunked, and the row values it was parsed against. */
interface NewBody {
  body: ParsedBody;
  chunks: ChunkRecord[];
}

/**
 * UpdateDocument. Parsing and chunking a new body can take seconds (a large PDF), so it happens before
 * the row lock, from the filename and type the row has then; under the lock those are checked again.
 * Under the lock, in one transaction: stale chunks leave the retrieval index first (a failure there
 * changes nothing), then the row and the chunks are rewritten.
 */
export async function updateDocument(deps: UpdateDeps, tenant: string, id: string, req: UpdateDocumentRequest, ctx: CallContext): Promise<DocumentRow | undefined> {
  const paths = updatePaths(req);
  checkSentValues(req);
  if (paths.has("text") && paths.has("content")) throw new InvalidArgumentError("text", "give either text or content, not both");
  const expected = valid.optionalVersion("expected_version", req.expectedVersion);
  const changes = {
    title: paths.has("title") ? requiredTitle(req.title) : undefined,
    sourceUri: paths.has("source_uri") ? valid.sourceUri(req.sourceUri) : undefined,
    tags: paths.has("tags") ? valid.tags(req.tags) : undefined,
    metadata: paths.has("metadata") ? valid.metadata(req.metadata) : undefined,
    filename: paths.has("filename") ? valid.filename(req.filename) : undefined,
  };
  const bodyChanged = paths.has("text") || paths.has("content");
  if (bodyChanged && req.text === "" && req.content.length === 0) {
    throw new InvalidArgumentError(paths.has("text") ? "text" : "content", "the body cannot be cleared; delete the document instead");
  }

  let basis: Pick<DocumentRow, "filename" | "content_type"> | undefined;
  let newBody: NewBody | undefined;
  let contentType: string | undefined;
  if (bodyChanged || paths.has("content_type") || paths.has("filename")) {
    basis = await deps.store.get(tenant, id, false);
    if (!basis) return undefined;
    const filename = changes.filename ?? basis.filename;
    // A new body keeps the document's type unless the caller names one or a new filename implies one.
    const typeHint = paths.has("content_type") ? req.contentType : paths.has("filename") ? "" : basis.content_type;
    if (bodyChanged) {
      const body = await parseBody({ text: req.text, content: req.content, filename, contentType: typeHint }, deps.maxDocumentBytes, deps.parser, ctx.signal);
      newBody = { body, chunks: withChunkIds(id, chunkText(body, deps.chunking)) };
    } else {
      contentType = requireSupported(resolveContentType(typeHint, filename, true), filename);
    }
  }

  return deps.store.locked(tenant, id, async (doc) => {
    const current = doc.row;
    if (expected !== undefined && current.version !== expected) {
      throw new AbortedError(`document ${id} is at version ${current.version}, not ${expected}: re-read it and retry`);
    }
    if (basis && (basis.filename !== current.filename || basis.content_type !== current.content_type)) {
      throw new AbortedError(`document ${id} changed while its new body was parsed: retry`);
    }
    const meta: DocumentMeta = {
      title: changes.title ?? current.title,
      filename: changes.filename ?? current.filename,
      contentType: newBody?.body.contentType ?? contentType ?? current.content_type,
      sourceUri: changes.sourceUri ?? current.source_uri,
      tags: changes.tags ?? current.tags,
      metadata: changes.metadata ?? current.metadata,
    };
    // Points in the index carry title, source, tags and metadata: when those change, they need re-indexing.
    const payloadChanged =
      meta.title !== current.title || meta.sourceUri !== current.source_uri || !sameList(meta.tags, current.tags) || !sameMap(meta.metadata, current.metadata);
    if (newBody && newBody.body.contentHash !== current.content_hash) return replaceBody(deps.index, doc, meta, newBody, payloadChanged);
    return doc.update(meta, payloadChanged ? "PENDING" : current.status, newBody?.body);
  });
}

/** Removes the points of chunks that no longer exist, then rewrites the document and its chunks. */
async function replaceBody(index: SearchIndex, doc: LockedDocument, meta: DocumentMeta, next: NewBody, payloadChanged: boolean) {
  const old = await doc.chunkKeys();
  const kept = new Set(next.chunks.map((c) => c.chunkId));
  const stale = old.filter((c) => !kept.has(c.chunk_id)).map((c) => c.chunk_id);
  if (stale.length > 0) await index.deleteChunks(doc.row.collection, stale);
  const status: StoredStatus = doc.row.status === "INDEXED" && !payloadChanged && !needsIndexing(old, next.chunks) ? "INDEXED" : "PENDING";
  return doc.update(meta, status, next.body, next.chunks);
}

/** True when some chunk is new, or a kept chunk's indexed attributes (position, headings) moved. */
function needsIndexing(old: ChunkKey[], chunks: ChunkRecord[]): boolean {
  const before = new Map(old.map((c) => [c.chunk_id, c]));
  return chunks.some((c) => {
    const o = before.get(c.chunkId);
    return !o || o.chunk_index !== c.index || !sameList(o.heading_path, c.headingPath);
  });
}

/** Which fields an update changes: the mask when given, otherwise every field that is set. */
function updatePaths(req: UpdateDocumentRequest): Set<UpdatablePath> {
  const mask = (req.updateMask ?? []).flatMap((p) => p.split(",")).map((p) => p.trim()).filter(Boolean);
  if (mask.length > 0) {
    const snake = (p: string) => p.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`); // JSON clients send camelCase paths
    for (const p of mask) {
      if (!(UPDATABLE as readonly string[]).includes(snake(p))) {
        throw new InvalidArgumentError("update_mask", `unknown or immutable field ${JSON.stringify(p)}; updatable: ${UPDATABLE.join(", ")}`);
      }
    }
    return new Set(mask.map((p) => snake(p) as UpdatablePath));
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

/**
 * Every value sent is held to the contract's rules, masked or not (as UpdatePreferences does): a field the
 * mask leaves out is ignored, but a bad value in it is still a bad request, not silently dropped.
 */
function checkSentValues(req: UpdateDocumentRequest): void {
  if (req.title !== "") valid.title(req.title);
  if (req.sourceUri !== "") valid.sourceUri(req.sourceUri);
  if (req.tags.length > 0) valid.tags(req.tags);
  if (Object.keys(req.metadata).length > 0) valid.metadata(req.metadata);
  if (req.filename !== "") valid.filename(req.filename);
}

function requiredTitle(value: string): string {
  const title = valid.title(value);
  if (!title) throw new InvalidArgumentError("title", "cannot be cleared: a document always has a title");
  return title;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sameMap(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => b[k] === a[k]);
}
