import mammoth from "mammoth";
import type { ParsedText } from "./blocks.js";
import { parseHtml } from "./html.js";
import { UnreadableDocument } from "./unreadable.js";

/**
 * Word's own structure through mammoth: its default style map turns "Heading 1".."Heading 6" into
 * h1..h6, and the HTML parser does the rest, so docx and html share one notion of headings and lists.
 * The "Title" style leads the document: it becomes a top-level heading and so the document title.
 */
const STYLE_MAP = ["p[style-name='Title'] => h1:fresh", "p[style-name='Subtitle'] => p:fresh"];

// Images carry no text; skipping them spares base64-encoding every picture into the HTML.
const noImages = mammoth.images.imgElement(async () => ({ src: "" }));

export async function parseDocx(content: Buffer): Promise<ParsedText> {
  let html: string;
  try {
    ({ value: html } = await mammoth.convertToHtml({ buffer: content }, { styleMap: STYLE_MAP, convertImage: noImages }));
  } catch (err) {
    throw new UnreadableDocument(`is not a readable .docx file (${reason(err)})`);
  }
  return parseHtml(html);
}

function reason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (/central directory|zip/i.test(message)) return "not a zip archive";
  return message.split("\n")[0]!.slice(0, 200);
}
