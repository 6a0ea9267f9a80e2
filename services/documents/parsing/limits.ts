import { UnreadableDocument } from "./unreadable.js";

/**
 * How much one untrusted file may cost to parse. A small upload can expand enormously (a zip bomb in a
 * .docx, a PDF of a million empty pages, HTML nested a hundred thousand deep), so every parser checks
 * these before and while it works, and the worker that runs it has a memory and time limit of its own.
 */
export interface ParseLimits {
  /** Bytes a .docx may inflate to, declared and actual (also the most characters of HTML a .docx becomes). */
  maxExpandedBytes: number;
  /** Entries in a .docx archive. */
  maxZipEntries: number;
  /** Uncompressed/compressed size of one large archive entry (deflate cannot honestly do much over 100). */
  maxCompressionRatio: number;
  maxPdfPages: number;
  /** Elements open at once in HTML (and in the HTML a .docx becomes). */
  maxHtmlDepth: number;
  /** Characters of text extracted from one file. */
  maxTextChars: number;
}

export const DEFAULT_LIMITS: ParseLimits = {
  maxExpandedBytes: 50 * 1024 * 1024,
  maxZipEntries: 1_000,
  maxCompressionRatio: 200,
  maxPdfPages: 2_000,
  maxHtmlDepth: 500,
  maxTextChars: 20_000_000,
};

/** The environment variable that sets each limit, named in every refusal so an operator knows what to raise. */
export const LIMIT_ENV: Record<keyof ParseLimits, string> = {
  maxExpandedBytes: "PARSE_MAX_EXPANDED_BYTES",
  maxZipEntries: "PARSE_MAX_ZIP_ENTRIES",
  maxCompressionRatio: "PARSE_MAX_COMPRESSION_RATIO",
  maxPdfPages: "PARSE_MAX_PDF_PAGES",
  maxHtmlDepth: "PARSE_MAX_HTML_DEPTH",
  maxTextChars: "PARSE_MAX_TEXT_CHARS",
};

/** A file over one of the limits: INVALID_ARGUMENT, since the same file will be refused again. */
export class LimitExceeded extends UnreadableDocument {
  constructor(what: string, limits: ParseLimits, limit: keyof ParseLimits, unit: string) {
    super(`${what} exceeds the limit of ${limits[limit]} ${unit} (${LIMIT_ENV[limit]})`);
    this.name = "LimitExceeded";
  }
}
