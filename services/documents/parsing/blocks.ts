import { normaliseText, oneLine } from "./normalise.js";

/**
 * What every format parser produces: the document as a flat sequence of headings and paragraphs. The
 * chunker needs nothing more; turning blocks into one text here keeps the heading positions exact.
 */
export type Block =
  | { kind: "heading"; level: number; text: string }
  /** `tight`: joined to the previous paragraph with a line break instead of a blank line (list items, table rows). */
  | { kind: "paragraph"; text: string; tight?: boolean };

export interface Heading {
  /** 1 (outermost) to 6. */
  level: number;
  title: string;
  /** UTF-16 index of the heading's line in `text` (internal; the API speaks code points). */
  at: number;
}

/** A parsed document: normalised text plus its heading structure. */
export interface ParsedText {
  text: string;
  headings: Heading[];
  /** The title the format itself declares (<title>, PDF info, front matter), else the first heading. */
  title?: string;
}

/** Heading titles travel on every chunk (heading_path): a mis-detected "heading" must not be a page long. */
const MAX_HEADING_TITLE = 200;

export function assemble(blocks: Iterable<Block>, declaredTitle?: string): ParsedText {
  let text = "";
  const headings: Heading[] = [];
  for (const block of blocks) {
    const body = block.kind === "heading" ? oneLine(normaliseText(block.text)) : normaliseText(block.text);
    if (body === "") continue;
    if (text !== "") text += block.kind === "paragraph" && block.tight ? "\n" : "\n\n";
    if (block.kind === "heading") {
      const title = body.length > MAX_HEADING_TITLE ? `${body.slice(0, MAX_HEADING_TITLE - 1).trimEnd()}…` : body;
      headings.push({ level: Math.min(6, Math.max(1, block.level)), title, at: text.length });
    }
    text += body;
  }
  const title = oneLine(declaredTitle ?? "") || headings[0]?.title;
  return { text, headings, ...(title ? { title } : {}) };
}
