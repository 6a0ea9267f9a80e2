import { createHash } from "node:crypto";
import type { Chunk } from "#gen/rag/v1/documents.js";
import type { Heading } from "../parsing/blocks.js";
import { codePointIndex } from "./offsets.js";
import { sections } from "./sections.js";
import { splitSection, type SplitOptions } from "./split.js";
import { estimateTokens } from "./tokens.js";

export type ChunkOptions = SplitOptions;

/**
 * One chunk as the chunker cuts it: the contract's Chunk without the ids, which come later from the
 * document id (ids.ts). `text` is exactly the normalised text's code points [startOffset, endOffset);
 * `contentHash` is the lower-case hex SHA-256 of `text`.
 */
export type ChunkPiece = Omit<Chunk, "chunkId" | "documentId">;

/**
 * Chunks by structure: the text is cut at every heading, then each section is packed into chunks of at
 * most `size` characters from whole paragraphs, else whole sentences, else whole words (split.ts), with
 * up to `overlap` characters repeated between neighbours inside a section.
 */
export function chunkText(doc: { text: string; headings: Heading[] }, opts: ChunkOptions): ChunkPiece[] {
  if (!(opts.size > 0) || opts.overlap < 0 || opts.overlap * 2 >= opts.size) {
    throw new Error(`chunk size ${opts.size} and overlap ${opts.overlap}: need size > 0 and 0 <= overlap < size / 2`);
  }
  const spans = sections(doc.text, doc.headings).flatMap((section) =>
    splitSection(doc.text, section.start, section.end, section.headingEnd, opts).map(([start, end]) => ({ start, end, headingPath: section.headingPath })),
  );
  const codePoints = codePointIndex(doc.text, spans.flatMap((s) => [s.start, s.end]));
  return spans.map((span, index) => {
    const text = doc.text.slice(span.start, span.end);
    return {
      index,
      text,
      startOffset: codePoints.get(span.start)!,
      endOffset: codePoints.get(span.end)!,
      headingPath: span.headingPath,
      contentHash: createHash("sha256").update(text, "utf8").digest("hex"),
      tokenCount: estimateTokens(text),
    };
  });
}
