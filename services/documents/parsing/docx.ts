import mammoth from "mammoth";
import type { ParsedText } from "./blocks.js";
import { parseHtml } from "./html.js";
import { DEFAULT_LIMITS, type ParseLimits } from "./limits.js";
import { UnreadableDocument } from "./unreadable.js";
import { openZip } from "./zip.js";

/**
 * Word's own structure through mammoth: its default style map turns "Heading 1".."Heading 6" into
 * h1..h6, and the HTML parser does the rest, so docx and html share one notion of headings and lists.
 * The "Title" style leads the document: it becomes a top-level heading and so the document title.
 */
const STYLE_MAP = ["p[style-name='Title'] => h1:fresh", "p[style-name='Subtitle'] => p:fresh"];

// Images carry no text; skipping them spares base64-encoding every picture into the HTML.
const noImages = mammoth.images.imgElement(async () => ({ src: "" }));

export async function parseDocx(content: Buffer, limits: ParseLimits = DEFAULT_LIMITS): Promise<ParsedText> {
  // The archive's directory is checked before anything inflates; mammoth reads entries through it
  // (its `file` input, the zip interface it would otherwise build with JSZip) within the same limits.
  const zip = await openZip(content, limits);
  let html: string;
  try {
    const input = { file: { exists: zip.exists, read: zip.read } } as unknown as Parameters<typeof mammoth.convertToHtml>[0];
    ({ value: html } = await mammoth.convertToHtml(input, { styleMap: STYLE_MAP, convertImage: noImages }));
  } catch (err) {
    if (err instanceof UnreadableDocument) throw err;
    throw new UnreadableDocument(`is not a readable .docx file (${reason(err)})`);
  } finally {
    zip.close();
  }
  return parseHtml(html, limits);
}

function reason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (/central directory|zip/i.test(message)) return "not a zip archive";
  return message.split("\n")[0]!.slice(0, 200);
}
