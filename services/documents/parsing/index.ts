import { InvalidArgumentError } from "#mesh/errors.js";
import type { ParsedText } from "./blocks.js";
import { parseDocx } from "./docx.js";
import { parseHtml } from "./html.js";
import { parseMarkdown } from "./markdown.js";
import { parsePdf } from "./pdf.js";
import { parsePlainText } from "./text.js";
import { UnreadableDocument } from "./unreadable.js";

export type { Heading, ParsedText } from "./blocks.js";

export const DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

interface Format {
  /** Binary formats need the raw bytes (`content`); text formats take either. */
  binary: boolean;
  parse(body: string | Buffer, signal?: AbortSignal): ParsedText | Promise<ParsedText>;
}

const FORMATS: Record<string, Format> = {
  "text/plain": { binary: false, parse: (body) => parsePlainText(body as string) },
  "text/markdown": { binary: false, parse: (body) => parseMarkdown(body as string) },
  "text/html": { binary: false, parse: (body) => parseHtml(body as string) },
  "application/pdf": { binary: true, parse: (body, signal) => parsePdf(body as Buffer, signal) },
  [DOCX_TYPE]: { binary: true, parse: (body) => parseDocx(body as Buffer) },
};

export const SUPPORTED_TYPES: readonly string[] = Object.keys(FORMATS);

/** A content type the parsers read, or INVALID_ARGUMENT saying which ones they do. */
export function requireSupported(contentType: string, filename: string): string {
  if (!Object.hasOwn(FORMATS, contentType)) {
    throw new InvalidArgumentError("content_type", `${contentType}${filename ? ` (${filename})` : ""} is not supported; supported: ${SUPPORTED_TYPES.join(", ")}`);
  }
  return contentType;
}

/**
 * One entry point for every format: the body (text as sent, or raw bytes) to normalised text and its
 * headings. Anything that cannot be read is INVALID_ARGUMENT on the body's field, naming the file and the
 * reason; nothing else escapes as a parse failure.
 */
export async function parse(body: string | Buffer, contentType: string, filename: string, signal?: AbortSignal): Promise<ParsedText> {
  const field = typeof body === "string" ? "text" : "content";
  const name = filename || "the upload";
  const format = FORMATS[requireSupported(contentType, filename)]!;
  if (format.binary && typeof body === "string") {
    throw new InvalidArgumentError("text", `${name}: ${contentType} is a binary format; send the file's bytes in content, not text`);
  }
  try {
    return await format.parse(format.binary ? body : decodeText(body, contentType, name), signal);
  } catch (err) {
    if (err instanceof UnreadableDocument) throw new InvalidArgumentError(field, `${name} ${err.problem}`);
    throw err;
  }
}

/** Text formats arrive as bytes too: UTF-8, or for HTML the charset its <meta> declares. */
function decodeText(body: string | Buffer, contentType: string, name: string): string {
  let text: string;
  if (typeof body === "string") text = body;
  else {
    const charset = contentType === "text/html" ? declaredCharset(body) : undefined;
    try {
      text = new TextDecoder(charset ?? "utf-8", { fatal: true }).decode(body);
    } catch {
      throw new UnreadableDocument(`is not valid ${charset ?? "UTF-8"} text`);
    }
  }
  if (text.includes("\u0000")) throw new UnreadableDocument("contains NUL bytes: not a text document");
  return text;
}

function declaredCharset(bytes: Buffer): string | undefined {
  const head = bytes.subarray(0, 2048).toString("latin1");
  const charset = /<meta[^>]+charset\s*=\s*["']?\s*([\w-]+)/i.exec(head)?.[1]?.toLowerCase();
  if (!charset || charset === "utf-8" || charset === "utf8") return undefined;
  try {
    new TextDecoder(charset);
    return charset;
  } catch {
    return undefined;
  }
}
