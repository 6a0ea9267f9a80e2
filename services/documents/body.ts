import { createHash } from "node:crypto";
import { InvalidArgumentError } from "#mesh/errors.js";

/** Content types this release parses. Binary formats (pdf, docx) and html come with the parsers. */
export const SUPPORTED_TYPES = ["text/plain", "text/markdown"] as const;
export type SupportedType = (typeof SUPPORTED_TYPES)[number];

const BY_EXTENSION: Record<string, string> = {
  txt: "text/plain",
  text: "text/plain",
  md: "text/markdown",
  markdown: "text/markdown",
  html: "text/html",
  htm: "text/html",
  pdf: "application/pdf",
  docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
};

export interface BodyInput {
  text: string;
  content: Buffer;
  filename: string;
  contentType: string;
}

export interface ParsedBody {
  contentType: SupportedType;
  /** Normalised text: what is stored, hashed, chunked and cited. */
  text: string;
  contentHash: string;
  /** Bytes as received (raw upload, or the UTF-8 of `text`). */
  sizeBytes: number;
  /** Length in Unicode code points, the unit of every offset. */
  textLength: number;
}

/** MIME type from an explicit value (parameters such as charset dropped) or the file extension. */
export function resolveContentType(contentType: string, filename: string, hasText: boolean): string {
  const explicit = contentType.split(";")[0]!.trim().toLowerCase();
  if (explicit) return explicit === "text/x-markdown" ? "text/markdown" : explicit;
  const ext = /\.([A-Za-z0-9]+)$/.exec(filename)?.[1]?.toLowerCase();
  if (ext && BY_EXTENSION[ext]) return BY_EXTENSION[ext]!;
  if (hasText) return "text/plain";
  throw new InvalidArgumentError("content_type", `cannot infer the type of ${filename ? JSON.stringify(filename) : "the upload"}; set content_type (supported: ${SUPPORTED_TYPES.join(", ")})`);
}

/**
 * Same text, same hash: Unicode NFC, LF line ends, no BOM, no trailing spaces on lines. Re-ingesting a
 * file saved on another OS or editor then counts as unchanged.
 */
export function normaliseText(raw: string): string {
  return raw
    .replace(/^\uFEFF/, "")
    .normalize("NFC")
    .replace(/\r\n?/g, "\n")
    .replace(/[ \t]+$/gm, "")
    .trim();
}

export function parseBody(input: BodyInput, maxBytes: number): ParsedBody {
  const hasText = input.text.length > 0;
  const hasContent = input.content.length > 0;
  if (hasText && hasContent) throw new InvalidArgumentError("text", "give either text or content, not both");
  if (!hasText && !hasContent) throw new InvalidArgumentError("text", "the document body is empty: set text (or content for a file upload)");
  const field = hasText ? "text" : "content";
  const sizeBytes = hasText ? Buffer.byteLength(input.text, "utf8") : input.content.length;
  if (sizeBytes > maxBytes) throw new InvalidArgumentError(field, `body is ${sizeBytes} bytes, over the limit of ${maxBytes} bytes`);

  const contentType = resolveContentType(input.contentType, input.filename, hasText);
  if (!(SUPPORTED_TYPES as readonly string[]).includes(contentType)) {
    throw new InvalidArgumentError("content_type", `${contentType}${input.filename ? ` (${input.filename})` : ""} is not supported; supported: ${SUPPORTED_TYPES.join(", ")}`);
  }
  let raw: string;
  if (hasText) raw = input.text;
  else {
    try {
      raw = new TextDecoder("utf-8", { fatal: true }).decode(input.content);
    } catch {
      throw new InvalidArgumentError("content", `${input.filename || "the upload"} is not valid UTF-8 text`);
    }
  }
  if (raw.includes("\u0000")) throw new InvalidArgumentError(field, `${input.filename || "the body"} contains NUL bytes: not a text document`);
  const text = normaliseText(raw);
  if (text.length === 0) throw new InvalidArgumentError(field, "the document body is empty after removing whitespace");
  return {
    contentType: contentType as SupportedType,
    text,
    contentHash: createHash("sha256").update(text, "utf8").digest("hex"),
    sizeBytes,
    textLength: [...text].length,
  };
}

/** The first markdown heading, used as the title when none is given. */
export function firstHeading(text: string, contentType: string): string | undefined {
  if (contentType !== "text/markdown") return undefined;
  const m = /^#{1,6}[ \t]+(.+?)[ \t#]*$/m.exec(text);
  return m?.[1]?.trim() || undefined;
}
