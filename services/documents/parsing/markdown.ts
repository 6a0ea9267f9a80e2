import { assemble, type Block, type ParsedText } from "./blocks.js";

/*
 * Markdown to readable text. Headings (ATX `#` and setext underlines) become the heading structure;
 * syntax that only decorates (emphasis, code ticks, link targets, fences, rules, table pipes, quote
 * markers, front matter) is dropped, and every word stays. Soft-wrapped lines are joined with a space as
 * a renderer would; list items, table rows and hard breaks keep their own lines.
 */

const FENCE = /^ {0,3}(`{3,}|~{3,})/;
const ATX = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const SETEXT_1 = /^ {0,3}=+[ \t]*$/;
const SETEXT_2 = /^ {0,3}-+[ \t]*$/;
const RULE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const LINK_DEFINITION = /^ {0,3}\[[^\]]+\]:[ \t]*\S+/;
const TABLE_DELIMITER = /^[ \t]*\|?[ \t]*:?-+:?[ \t]*(\|[ \t]*:?-+:?[ \t]*)+\|?[ \t]*$/;
const QUOTE = /^ {0,3}(?:>[ \t]?)+/;
const BULLET = /^([ \t]*)[-*+][ \t]+(?:\[[ xX]\][ \t]+)?/;
const ORDERED = /^([ \t]*)(\d{1,9})[.)][ \t]+/;

interface Line {
  text: string;
  /** Starts on its own line instead of continuing the previous one. */
  hard: boolean;
}

export function parseMarkdown(source: string): ParsedText {
  const lines = source.replace(/\r\n?/g, "\n").split("\n");
  const blocks: Block[] = [];
  let paragraph: Line[] = [];
  let breakNext = false;
  const flush = () => {
    if (paragraph.length > 0) blocks.push({ kind: "paragraph", text: paragraph.map((l, i) => (i === 0 ? "" : l.hard ? "\n" : " ") + l.text).join("") });
    paragraph = [];
    breakNext = false;
  };

  let i = 0;
  const title = frontMatterTitle(lines);
  if (title !== undefined) i = title.end;

  for (; i < lines.length; i++) {
    const line = lines[i]!;
    const fence = FENCE.exec(line);
    if (fence) {
      // Code is content: kept verbatim, only the fence lines go.
      flush();
      const marker = fence[1]!;
      const code: string[] = [];
      for (i++; i < lines.length && !new RegExp(`^ {0,3}${marker[0] === "`" ? "`" : "~"}{${marker.length},}[ \\t]*$`).test(lines[i]!); i++) code.push(lines[i]!);
      blocks.push({ kind: "paragraph", text: code.join("\n") });
      continue;
    }
    if (/^ {0,3}<!--/.test(line)) {
      flush();
      while (i < lines.length && !lines[i]!.includes("-->")) i++;
      continue;
    }
    if (line.trim() === "") {
      flush();
      continue;
    }
    const atx = ATX.exec(line);
    if (atx) {
      flush();
      blocks.push({ kind: "heading", level: atx[1]!.length, text: inline(atx[2] ?? "") });
      continue;
    }
    if (paragraph.length > 0 && !paragraph.some((l) => l.hard) && (SETEXT_1.test(line) || SETEXT_2.test(line))) {
      const text = paragraph.map((l) => l.text).join(" ");
      paragraph = [];
      blocks.push({ kind: "heading", level: SETEXT_1.test(line) ? 1 : 2, text });
      continue;
    }
    if (RULE.test(line)) {
      flush();
      continue;
    }
    if (LINK_DEFINITION.test(line) || TABLE_DELIMITER.test(line)) continue;

    const unquoted = line.replace(QUOTE, "");
    let text: string;
    let hard = breakNext;
    const bullet = BULLET.exec(unquoted);
    const ordered = ORDERED.exec(unquoted);
    if (bullet) {
      text = `${bullet[1]}- ${inline(unquoted.slice(bullet[0].length))}`;
      hard = true;
    } else if (ordered) {
      text = `${ordered[1]}${ordered[2]}. ${inline(unquoted.slice(ordered[0].length))}`;
      hard = true;
    } else if (isTableRow(unquoted)) {
      text = tableCells(unquoted).map(inline).join(" | ");
      hard = true;
    } else {
      text = inline(unquoted.trim());
    }
    // Two trailing spaces or a backslash end a line on purpose (a hard break).
    breakNext = / {2,}$/.test(unquoted) || /\\$/.test(unquoted);
    if (breakNext) text = text.replace(/\\$/, "");
    paragraph.push({ text: text.trimEnd(), hard });
  }
  flush();
  return assemble(blocks, title?.title);
}

/** YAML front matter at the very top is metadata, not text; its `title:` names the document. */
function frontMatterTitle(lines: string[]): { title?: string; end: number } | undefined {
  if (lines[0]?.trim() !== "---") return undefined;
  const close = lines.findIndex((l, i) => i > 0 && (l.trim() === "---" || l.trim() === "..."));
  if (close < 0 || close > 200) return undefined;
  const entry = lines.slice(1, close).map((l) => /^title:[ \t]*(.+)$/.exec(l)?.[1]).find(Boolean);
  const title = entry?.trim().replace(/^(["'])(.*)\1$/, "$2");
  return { ...(title ? { title } : {}), end: close + 1 };
}

function isTableRow(line: string): boolean {
  const t = line.trim();
  return t.startsWith("|") && t.length > 1 && t.slice(1).includes("|");
}

function tableCells(line: string): string[] {
  return line
    .trim()
    .replace(/^\|/, "")
    .replace(/(?<!\\)\|$/, "")
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: "\u00A0", copy: "©", reg: "®", mdash: "—", ndash: "–", hellip: "…" };

/** Inline markdown to plain words: link and image text kept, targets, emphasis and code ticks dropped. */
export function inline(raw: string): string {
  // Escaped characters and code spans are literal: park them so no later rule touches them.
  const parked: string[] = [];
  const park = (s: string) => `\uE000${parked.push(s) - 1}\uE001`;
  let s = raw
    .replace(/\\([!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~])/g, (_, c: string) => park(c))
    .replace(/(`+)(?!`)([\s\S]*?[^`])\1(?!`)/g, (_, __, code: string) => park(code.trim()));
  s = s
    .replace(/!\[([^\]]*)\]\((?:[^()]|\([^)]*\))*\)/g, "$1")
    .replace(/\[([^\]]+)\]\((?:[^()]|\([^)]*\))*\)/g, "$1")
    .replace(/\[([^\]]+)\]\[[^\]]*\]/g, "$1")
    .replace(/<((?:https?|ftp|mailto):[^>\s]+)>/gi, "$1")
    .replace(/<([^>\s@]+@[^>\s@]+)>/g, "$1")
    .replace(/<\/?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?\/?>/g, "")
    .replace(/(\*\*|__)(?=\S)([\s\S]*?\S)\1/g, "$2")
    .replace(/~~(?=\S)([\s\S]*?\S)~~/g, "$1")
    .replace(/(^|[^\w*])\*(?=\S)([^*]*?\S)\*(?![\w*])/g, "$1$2")
    .replace(/(^|[^\w_])_(?=\S)([^_]*?\S)_(?![\w_])/g, "$1$2")
    .replace(/&(#x[0-9a-f]{1,6}|#\d{1,7}|[a-z]+);/gi, (whole, name: string) => decodeEntity(name) ?? whole);
  return s.replace(/\uE000(\d+)\uE001/g, (_, n: string) => parked[Number(n)] ?? "");
}

function decodeEntity(name: string): string | undefined {
  if (name[0] !== "#") return ENTITIES[name.toLowerCase()];
  const code = name[1] === "x" || name[1] === "X" ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
  return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : undefined;
}
