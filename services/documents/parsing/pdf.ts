import { createRequire } from "node:module";
import path from "node:path";
import type { TextItem, TextMarkedContent } from "pdfjs-dist/types/src/display/api.js";
import { log } from "#mesh/logger.js";
import { assemble, type Block, type ParsedText } from "./blocks.js";
import { DEFAULT_LIMITS, LimitExceeded, type ParseLimits } from "./limits.js";
import { UnreadableDocument } from "./unreadable.js";

/*
 * PDF text with pdf.js (legacy build, the one meant for Node). A PDF has glyph runs, not paragraphs, so
 * the layout is read back from geometry: runs on one baseline form a line, a font-size change or a gap
 * clearly wider than the page's usual line spacing starts a paragraph, and lines set clearly larger than
 * the body text are headings (the larger, the higher). Pages are read in order, each in content-stream
 * order, which is reading order for the PDFs word processors and typesetters write.
 */

type PdfJs = typeof import("pdfjs-dist/legacy/build/pdf.mjs");
let pdfjs: Promise<PdfJs> | undefined;

/** pdf.js is large: loaded on the first PDF, not at start-up. */
function loadPdfJs(): Promise<PdfJs> {
  // pdfjs-dist 5 supports Node 20: its legacy build polyfills what Node 20 lacks (Promise.withResolvers).
  return (pdfjs ??= import("pdfjs-dist/legacy/build/pdf.mjs"));
}

const PDFJS_DIR = path.dirname(createRequire(import.meta.url).resolve("pdfjs-dist/package.json"));

interface Line {
  text: string;
  /** Font size of most of the line's characters, in points. */
  size: number;
  /** Baseline, PDF user space (grows upwards). */
  y: number;
}

interface Paragraph {
  text: string;
  size: number;
}

export async function parsePdf(content: Buffer, signal?: AbortSignal, limits: ParseLimits = DEFAULT_LIMITS): Promise<ParsedText> {
  const { getDocument, VerbosityLevel } = await loadPdfJs();
  const task = getDocument({
    data: new Uint8Array(content), // a copy: pdf.js may detach the buffer it is given
    disableFontFace: true,
    useSystemFonts: false,
    verbosity: VerbosityLevel.ERRORS,
    standardFontDataUrl: `${PDFJS_DIR}/standard_fonts/`,
    cMapUrl: `${PDFJS_DIR}/cmaps/`,
    cMapPacked: true,
  });
  const abort = () => void task.destroy();
  signal?.addEventListener("abort", abort, { once: true });
  try {
    const pdf = await task.promise;
    // The page count is in the document's catalogue: refused before a single page is read.
    if (pdf.numPages > limits.maxPdfPages) throw new LimitExceeded(`its page count (${pdf.numPages})`, limits, "maxPdfPages", "pages");
    const pages: Paragraph[][] = [];
    let chars = 0;
    for (let n = 1; n <= pdf.numPages; n++) {
      signal?.throwIfAborted();
      const page = await pdf.getPage(n);
      const content = await page.getTextContent();
      const found = paragraphs(lines(content.items));
      for (const p of found) chars += p.text.length;
      if (chars > limits.maxTextChars) throw new LimitExceeded(`its text (more than ${chars} characters by page ${n})`, limits, "maxTextChars", "characters");
      pages.push(found);
      page.cleanup();
    }
    const info = (await pdf.getMetadata().catch(() => undefined))?.info as { Title?: unknown } | undefined;
    const parsed = assemble(blocks(pages), typeof info?.Title === "string" ? info.Title : undefined);
    if (parsed.text === "") throw new UnreadableDocument("contains no extractable text (a scanned PDF needs OCR first)");
    return parsed;
  } catch (err) {
    signal?.throwIfAborted();
    throw unreadable(err);
  } finally {
    signal?.removeEventListener("abort", abort);
    await task.destroy().catch(() => undefined);
  }
}

function unreadable(err: unknown): unknown {
  if (err instanceof UnreadableDocument) return err;
  const name = (err as { name?: string })?.name ?? "";
  const message = err instanceof Error ? err.message : String(err);
  if (name === "PasswordException") return new UnreadableDocument("is password-protected (encrypted); remove the password and upload it again");
  if (name === "InvalidPDFException") return new UnreadableDocument(`is not a valid PDF (${message})`);
  if (!/Exception$|FormatError/.test(name)) log.warn("pdf.js failed unexpectedly", { error: message, stack: err instanceof Error ? err.stack : undefined });
  return new UnreadableDocument(`could not be read as a PDF (${message})`);
}

/** Glyph runs to lines: a run on another baseline, or one pdf.js marks as ending a line, ends the line. */
function lines(items: (TextItem | TextMarkedContent)[]): Line[] {
  const out: Line[] = [];
  let current: { text: string; y: number; endX: number; chars: Map<number, number> } | undefined;
  const end = () => {
    if (current && current.text.trim() !== "") {
      const size = [...current.chars].reduce((best, entry) => (entry[1] > best[1] ? entry : best))[0];
      out.push({ text: current.text.replace(/\s+/g, " ").trim(), size, y: current.y });
    }
    current = undefined;
  };
  for (const item of items) {
    if (!("str" in item)) continue;
    const [a, b, c, d, x, y] = item.transform as number[];
    const size = Math.hypot(c!, d!) || Math.hypot(a!, b!) || item.height || 1;
    if (item.str !== "") {
      if (current && Math.abs(current.y - y!) > size * 0.5) end();
      if (!current) current = { text: "", y: y!, endX: x!, chars: new Map() };
      // Some producers position words instead of writing spaces: a visible gap is a space.
      else if (x! - current.endX > size * 0.15 && !/\s$/.test(current.text) && !/^\s/.test(item.str)) current.text += " ";
      current.text += item.str;
      current.endX = x! + item.width;
      const key = Math.round(size * 2) / 2;
      current.chars.set(key, (current.chars.get(key) ?? 0) + item.str.length);
    }
    if (item.hasEOL) end();
  }
  end();
  return out;
}

/** Lines to paragraphs, from the page's own line spacing. */
function paragraphs(page: Line[]): Paragraph[] {
  const sameSize = (a: Line, b: Line) => Math.abs(a.size - b.size) <= 0.12 * Math.max(a.size, b.size);
  const ratios = page.slice(1).flatMap((line, i) => {
    const prev = page[i]!;
    const gap = prev.y - line.y;
    return sameSize(prev, line) && gap > 0 ? [gap / line.size] : [];
  });
  const usual = median(ratios) ?? 1.2;
  const out: Paragraph[] = [];
  let lines: Line[] = [];
  const end = () => {
    if (lines.length > 0) out.push({ text: joinLines(lines.map((l) => l.text)), size: lines[0]!.size });
    lines = [];
  };
  for (const line of page) {
    const prev = lines[lines.length - 1];
    // Moving up the page means a new column or block; a wide gap means a paragraph break.
    if (prev && (!sameSize(prev, line) || prev.y - line.y <= 0 || (prev.y - line.y) / line.size > Math.max(usual * 1.4, 1.3))) end();
    lines.push(line);
  }
  end();
  return out;
}

/** Wrapped lines back into running text; a word hyphenated at a line end is joined, keeping its hyphen. */
function joinLines(lines: string[]): string {
  return lines.reduce((text, line) => (/\p{L}-$/u.test(text) && /^\p{Ll}/u.test(line) ? text + line : `${text} ${line}`));
}

/** Headings are short paragraphs set clearly larger than the body text (the size most characters use). */
function blocks(pages: Paragraph[][]): Block[] {
  const chars = new Map<number, number>();
  for (const p of pages.flat()) chars.set(p.size, (chars.get(p.size) ?? 0) + p.text.length);
  const body = [...chars].reduce((best, entry) => (entry[1] > best[1] ? entry : best), [0, -1])[0];
  const isHeading = (p: Paragraph) => body > 0 && p.size >= body * 1.15 && p.text.length <= 200 && /\p{L}/u.test(p.text);
  const headingSizes = [...new Set(pages.flat().filter(isHeading).map((p) => Math.round(p.size)))].sort((a, b) => b - a);
  return pages.flat().map((p): Block =>
    isHeading(p) ? { kind: "heading", level: headingSizes.indexOf(Math.round(p.size)) + 1, text: p.text } : { kind: "paragraph", text: p.text },
  );
}

function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
