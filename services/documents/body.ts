import { createHash } from "node:crypto";
import { InvalidArgumentError } from "#mesh/errors.js";
import { codePointLength } from "./chunking/offsets.js";
import { DOCX_TYPE, SUPPORTED_TYPES, type Heading } from "./parsing/index.js";
import type { DocumentParser } from "./parsing/isolated.js";

const BY_EXTENSION: Record<string, string> = {
  txt: "text/plain",
  text: "text/plain",
  md: "text/markdown",
  markdown: "text/markdown",
  html: "text/html",
  htm: "text/html",
  xhtml: "text/html",
  pdf: "application/pdf",
  docx: DOCX_TYPE,
};

const ALIASES: Record<string, string> = {
  "text/x-markdown": "text/markdown",
  "application/xhtml+xml": "text/html",
};

export interface BodyInput {
  text: string;
  content: Buffer;
  filename: string;
  contentType: string;
}

export interface ParsedBody {
  contentType: string;
  /** Normalised text: what is stored, hashed, chunked and cited. */
  text: string;
  contentHash: string;
  /** Bytes as received (raw upload, or the UTF-8 of `text`). */
  sizeBytes: number;
  /** Length in Unicode code points, the unit of every offset. */
  textLength: number;
  headings: Heading[];
  /** What the content calls itself (<title>, PDF title, first heading), if anything. */
  title?: string;
}

/** MIME type from an explicit value (parameters such as charset dropped) or the file extension. */
export function resolveContentType(contentType: string, filename: string, hasText: boolean): string {
  const explicit = contentType.split(";")[0]!.trim().toLowerCase();
  if (explicit) return Object.hasOwn(ALIASES, explicit) ? ALIASES[explicit]! : explicit;
  const ext = /\.([A-Za-z0-9]+)$/.exec(filename)?.[1]?.toLowerCase();
  if (ext && Object.hasOwn(BY_EXTENSION, ext)) return BY_EXTENSION[ext]!;
  if (hasText) return "text/plain";
  throw new InvalidArgumentError("content_type", `cannot infer the type of ${filename ? JSON.stringify(filename) : "the upload"}; set content_type (supported: ${SUPPORTED_TYPES.join(", ")})`);
}

/** Checks the request's body (one of text or content, within the size limit) and parses it. */
export async function parseBody(input: BodyInput, maxBytes: number, parser: DocumentParser, signal?: AbortSignal): Promise<ParsedBody> {
  const hasText = input.text.length > 0;
  const hasContent = input.content.length > 0;
  if (hasText && hasContent) throw new InvalidArgumentError("text", "give either text or content, not both");
  if (!hasText && !hasContent) throw new InvalidArgumentError("text", "the document body is empty: set text (or content for a file upload)");
  const field = hasText ? "text" : "content";
  const sizeBytes = hasText ? Buffer.byteLength(input.text, "utf8") : input.content.length;
  if (sizeBytes > maxBytes) throw new InvalidArgumentError(field, `body is ${sizeBytes} bytes, over the limit of ${maxBytes} bytes`);

  const contentType = resolveContentType(input.contentType, input.filename, hasText);
  const parsed = await parser.parse(hasText ? input.text : input.content, contentType, input.filename, signal);
  if (parsed.text.length === 0) throw new InvalidArgumentError(field, `${input.filename || "the document body"} is empty after removing whitespace and markup`);
  return {
    contentType,
    text: parsed.text,
    contentHash: createHash("sha256").update(parsed.text, "utf8").digest("hex"),
    sizeBytes,
    textLength: codePointLength(parsed.text),
    headings: parsed.headings,
    ...(parsed.title ? { title: parsed.title } : {}),
  };
}
