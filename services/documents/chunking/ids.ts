import { createHash } from "node:crypto";

/**
 * A chunk's id is a function of its document, its text, and how many earlier chunks of the document have
 * the same text. Re-chunking an edited document therefore gives every unchanged chunk its old id, which
 * is what lets an update delete only the index points that went stale. Formatted as an RFC 9562 UUIDv8
 * (custom, hash-based): version nibble 8, RFC 4122 variant bits.
 */
export function chunkId(documentId: string, contentHash: string, occurrence: number): string {
  const b = createHash("sha256").update(`${documentId}:${contentHash}:${occurrence}`).digest();
  b[6] = (b[6]! & 0x0f) | 0x80;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.subarray(0, 16).toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Ids for a document's chunks in order: occurrence counts earlier chunks with the same content hash. */
export function withChunkIds<C extends { contentHash: string }>(documentId: string, chunks: C[]): (C & { chunkId: string })[] {
  const seen = new Map<string, number>();
  return chunks.map((c) => {
    const occurrence = seen.get(c.contentHash) ?? 0;
    seen.set(c.contentHash, occurrence + 1);
    return { ...c, chunkId: chunkId(documentId, c.contentHash, occurrence) };
  });
}
