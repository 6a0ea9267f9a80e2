import { InvalidArgumentError } from "#mesh/errors.js";
import type { ParsedText } from "./blocks.js";
import { parseDocx } from "./docx.js";
import { parseHtml } from "./html.js";
import { DEFAULT_LIMITS, LimitExceeded, type ParseLimits } from "./limits.js";
import { parseMarkdown } from "./markdown.js";
import { parsePdf } from "./pdf.js";
import { parsePlainText } from "./text.js";
import { UnreadableDocument } from "./unreadable.js";

export type { Heading, ParsedText } from "./blocks.js";
export { DEFAULT_LIMITS, LIMIT_ENV, type ParseLimits } from "./limits.js";

export const DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

interface Format {
  /** Binary formats need the raw bytes (`content`); text formats take either. */
  binary: boolean;
  /** Cheap and linear in the input: parsed in the calling thread, not in a parse worker. */
  inline?: boolean;
  parse(body: string | Buffer, limits: ParseLimits, signal?: AbortSignal): ParsedText | Promise<ParsedText>;
}

const FORMATS: Record<string, Format> = {
  "text/plain": { binary: false, inline: true, parse: (body) => parsePlainText(body as string) },
  "text/markdown": { binary: false, parse: (body) => parseMarkdown(body as string) },
  "text/html": { binary: false, parse: (body, limits) => parseHtml(body as string, limits) },
  "application/pdf": { binary: true, parse: (body, limits, signal) => parsePdf(body as Buffer, signal, limits) },
  [DOCX_TYPE]: { binary: true, parse: (body, limits) => parseDocx(body as Buffer, limits) },
};

/** True for formats cheap enough to parse without isolation (plain text: a few linear regex passes). */
export function parsesInline(contentType: string): boolean {
  return Object.hasOwn(FORMATS, contentType) && FORMATS[contentType]!.inline === true;
}

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
export async function parse(body: string | Buffer, contentType: string, filename: string, signal?: AbortSignal, limits: ParseLimits = DEFAULT_LIMITS): Promise<ParsedText> {
  const field = typeof body === "string" ? "text" : "content";
  const name = filename || "the upload";
  const format = FORMATS[requireSupported(contentType, filename)]!;
  if (format.binary && typeof body === "string") {
    throw new InvalidArgumentError("text", `${name}: ${contentType} is a binary format; send the file's bytes in content, not text`);
  }
  let parsed: ParsedText;
  try {
    parsed = await format.parse(format.binary ? body : decodeText(body, contentType, name), limits, signal);
    if (parsed.text.length > limits.maxTextChars) throw new LimitExceeded(`its text (${parsed.text.length} characters)`, limits, "maxTextChars", "characters");
  } catch (err) {
    if (err instanceof LimitExceeded) throw new InvalidArgumentError(field, `${name}: ${err.problem}`);
    if (err instanceof UnreadableDocument) throw new InvalidArgumentError(field, `${name} ${err.problem}`);
    throw err;
  }
  return parsed;
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
