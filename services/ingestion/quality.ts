import { scanHtml } from "./html.js";

/** Formats whose text ingestion can read itself, to check quality before anything is stored. */
const TEXT_BY_EXTENSION: Record<string, string> = {
  txt: "text/plain",
  text: "text/plain",
  md: "text/markdown",
  markdown: "text/markdown",
  html: "text/html",
  htm: "text/html",
};

export type LengthProblem = "empty" | "too_short";

function textType(contentType: string, filename: string): string | undefined {
  const explicit = contentType.split(";")[0]!.trim().toLowerCase();
  const type = explicit || TEXT_BY_EXTENSION[/\.([A-Za-z0-9]+)$/.exec(filename)?.[1]?.toLowerCase() ?? ""];
  if (type === "text/html" || type === "application/xhtml+xml") return "text/html";
  return type?.startsWith("text/") ? type : undefined;
}

/**
 * Length in code points of an item's text after trimming, when ingestion can read the format itself (text,
 * markdown, html in UTF-8); undefined for binary formats (pdf, docx) or undecodable bytes, whose text only
 * the documents service extracts.
 */
export function measureText(content: Buffer, contentType: string, filename: string): number | undefined {
  const type = textType(contentType, filename);
  if (!type) return undefined;
  let raw: string;
  try {
    raw = new TextDecoder("utf-8", { fatal: true }).decode(content);
  } catch {
    return undefined;
  }
  const text = type === "text/html" ? scanHtml(raw).text : raw.replace(/^\uFEFF/, "").trim();
  return [...text].length;
}

export function lengthProblem(length: number, minTextLength: number): LengthProblem | undefined {
  if (length === 0) return "empty";
  return length < minTextLength ? "too_short" : undefined;
}
