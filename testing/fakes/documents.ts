/**
 * Test double of the documents service: rag.v1.DocumentsService as proto/rag/v1/documents.proto defines it,
 * served over real gRPC (testing/fakes/set.ts starts it). Documents live in memory; paragraphs are chunks,
 * and a chunk keeps its id while its paragraph is unchanged (as the real chunker promises). ListChunks pages
 * two at a time whatever is asked, so callers must follow next_page_token. Every call requires a tenant and
 * is recorded with it.
 */
import { createHash, randomUUID } from "node:crypto";
import {
  Document,
  DocumentStatus,
  DocumentsServiceService,
  type Chunk,
  type UpdateDocumentRequest,
} from "#gen/rag/v1/documents.js";
import { requireTenant } from "#mesh/context.js";
import { AbortedError, InvalidArgumentError, NotFoundError } from "#mesh/errors.js";
import { serve } from "#mesh/server.js";

export interface StoredDoc {
  tenant: string;
  doc: Document;
  text: string;
  chunks: Chunk[];
}

export class FakeDocuments {
  readonly docs = new Map<string, StoredDoc>();
  readonly calls: { method: string; tenant: string; request: unknown }[] = [];

  of(tenant: string): StoredDoc[] {
    return [...this.docs.values()].filter((d) => d.tenant === tenant);
  }

  callsOf(tenant: string, method: string): unknown[] {
    return this.calls.filter((c) => c.tenant === tenant && c.method === method).map((c) => c.request);
  }

  reset(): void {
    this.docs.clear();
    this.calls.length = 0;
  }

  private record(method: string, tenant: string, request: unknown) {
    this.calls.push({ method, tenant, request });
  }

  private get(tenant: string, id: string): StoredDoc {
    const d = this.docs.get(id);
    if (!d || d.tenant !== tenant) throw new NotFoundError("document", id);
    return d;
  }

  service() {
    return serve(DocumentsServiceService, {
      createDocument: async (req, ctx) => {
        const tenant = requireTenant(ctx);
        this.record("createDocument", tenant, req);
        const { text, contentType } = extract(req.content, req.contentType, req.filename);
        const hash = sha256(text);
        const collection = req.collection || "default";
        if (req.skipDuplicate) {
          const same = this.of(tenant).find((d) => d.doc.collection === collection && d.doc.contentHash === hash);
          if (same) return { document: same.doc, duplicate: true };
        }
        const id = randomUUID();
        const now = new Date();
        const doc = Document.fromPartial({
          documentId: id,
          tenantId: tenant,
          collection,
          title: req.title || /^#\s+(.+)$/m.exec(text)?.[1] || req.filename.replace(/\.[a-z0-9]+$/i, ""),
          filename: req.filename,
          contentType,
          sourceUri: req.sourceUri,
          tags: req.tags,
          metadata: req.metadata,
          contentHash: hash,
          sizeBytes: String(req.content.length),
          status: DocumentStatus.DOCUMENT_STATUS_PENDING,
          textLength: [...text].length,
          createTime: now,
          updateTime: now,
          version: "1",
        });
        const stored: StoredDoc = { tenant, doc, text, chunks: [] };
        stored.chunks = chunk(id, text, []);
        doc.chunkCount = stored.chunks.length;
        this.docs.set(id, stored);
        return { document: doc, duplicate: false };
      },
      getDocument: async (req, ctx) => ({ document: this.get(requireTenant(ctx), req.documentId).doc }),
      listDocuments: async (req, ctx) => {
        const tenant = requireTenant(ctx);
        this.record("listDocuments", tenant, req);
        const found = this.of(tenant)
          .filter((d) => (!req.collection || d.doc.collection === req.collection) && (!req.sourceUri || d.doc.sourceUri === req.sourceUri))
          .reverse();
        return { documents: found.slice(0, req.pageSize || 50).map((d) => d.doc), nextPageToken: "" };
      },
      updateDocument: async (req, ctx) => {
        const tenant = requireTenant(ctx);
        this.record("updateDocument", tenant, req);
        const d = this.get(tenant, req.documentId);
        if (req.expectedVersion !== "0" && req.expectedVersion !== "" && req.expectedVersion !== d.doc.version) throw new AbortedError("version mismatch");
        applyUpdate(d, req);
        return { document: d.doc };
      },
      deleteDocument: async (req, ctx) => {
        const tenant = requireTenant(ctx);
        this.record("deleteDocument", tenant, req);
        const d = this.get(tenant, req.documentId);
        this.docs.delete(d.doc.documentId);
        return { deletedChunkCount: d.chunks.length };
      },
      listChunks: async (req, ctx) => {
        const tenant = requireTenant(ctx);
        this.record("listChunks", tenant, req);
        const d = this.get(tenant, req.documentId);
        // Two per page, whatever is asked: callers must follow next_page_token.
        const start = Number(req.pageToken || 0);
        const page = d.chunks.slice(start, start + 2);
        return { chunks: page, nextPageToken: start + 2 < d.chunks.length ? String(start + 2) : "" };
      },
      updateDocumentStatus: async (req, ctx) => {
        const tenant = requireTenant(ctx);
        this.record("updateDocumentStatus", tenant, req);
        const d = this.get(tenant, req.documentId);
        if (req.indexedVersion !== "0" && req.indexedVersion !== d.doc.version) throw new AbortedError(`document is at version ${d.doc.version}`);
        d.doc = { ...d.doc, status: req.status, statusMessage: req.statusMessage };
        return { document: d.doc };
      },
    });
  }
}

function applyUpdate(d: StoredDoc, req: UpdateDocumentRequest) {
  const mask = new Set(req.updateMask ?? []);
  const doc = { ...d.doc };
  if (mask.has("title") && req.title) doc.title = req.title;
  if (mask.has("tags")) doc.tags = req.tags;
  if (mask.has("metadata")) doc.metadata = req.metadata;
  if (mask.has("filename")) doc.filename = req.filename;
  if (mask.has("content")) {
    const { text, contentType } = extract(req.content, mask.has("content_type") ? req.contentType : "", req.filename || doc.filename);
    const hash = sha256(text);
    if (hash !== doc.contentHash) {
      d.text = text;
      d.chunks = chunk(doc.documentId, text, d.chunks);
      Object.assign(doc, { contentHash: hash, contentType, textLength: [...text].length, chunkCount: d.chunks.length, status: DocumentStatus.DOCUMENT_STATUS_PENDING });
    }
  }
  doc.version = String(Number(doc.version) + 1);
  doc.updateTime = new Date();
  d.doc = doc;
}

function extract(content: Buffer, contentType: string, filename: string): { text: string; contentType: string } {
  const ext = /\.([a-z0-9]+)$/i.exec(filename)?.[1]?.toLowerCase();
  const type = contentType || ({ md: "text/markdown", txt: "text/plain", html: "text/html", pdf: "application/pdf" } as Record<string, string>)[ext ?? ""];
  if (!type) throw new InvalidArgumentError("content_type", `cannot infer the type of ${filename}`);
  let raw = content.toString("utf8");
  if (type === "application/pdf") {
    if (!raw.startsWith("%PDF-")) throw new InvalidArgumentError("content", `${filename} is not a valid PDF (corrupt or truncated)`);
    raw = raw.slice(raw.indexOf("\n") + 1);
  } else if (type === "text/html") {
    raw = raw.replace(/<title>.*?<\/title>/s, "").replace(/<[^>]+>/g, "\n\n");
  }
  const text = raw.replace(/\r\n/g, "\n").replace(/\n{3,}/g, "\n\n").trim();
  if (text === "") throw new InvalidArgumentError("content", "the document body is empty after removing whitespace");
  return { text, contentType: type };
}

/** Paragraphs become chunks; an unchanged paragraph keeps the id it had. */
function chunk(documentId: string, text: string, previous: Chunk[]): Chunk[] {
  const out: Chunk[] = [];
  const heading: string[] = [];
  let offset = 0;
  const seen = new Map<string, number>();
  for (const para of text.split(/\n\n+/)) {
    const h = /^#\s+(.+)$/.exec(para);
    if (h) heading.splice(0, heading.length, h[1]!);
    const n = (seen.get(para) ?? 0) + 1;
    seen.set(para, n);
    const id = uuidOf(`${documentId}\u0000${para}\u0000${n}`);
    const kept = previous.find((c) => c.chunkId === id);
    out.push({
      chunkId: kept?.chunkId ?? id,
      documentId,
      index: out.length,
      text: para,
      startOffset: offset,
      endOffset: offset + [...para].length,
      headingPath: [...heading],
      contentHash: sha256(para),
      tokenCount: para.split(/\s+/).length,
    });
    offset += [...para].length + 2;
  }
  return out;
}

function sha256(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}

function uuidOf(s: string): string {
  const h = sha256(s);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
