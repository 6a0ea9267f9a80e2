import type { Heading } from "../parsing/blocks.js";

/** A stretch of text under one heading (or before the first), which no chunk crosses. UTF-16 indices. */
export interface Section {
  start: number;
  end: number;
  /** Where the section's heading line(s) end: a chunk should not hold only those. */
  headingEnd: number;
  /** Enclosing headings, outermost first; the section's own heading last. */
  headingPath: string[];
}

/**
 * Cuts the text at every heading. A heading directly followed by a deeper one ("# Install" then
 * "## On Linux") has no text of its own: it joins its first subsection, whose path names it anyway,
 * rather than becoming a chunk that says only "Install".
 */
export function sections(text: string, headings: Heading[]): Section[] {
  const out: Section[] = [];
  const first = headings[0]?.at ?? text.length;
  if (text.slice(0, first).trim() !== "") out.push({ start: 0, end: first, headingEnd: 0, headingPath: [] });
  const stack: Heading[] = [];
  let carried: number | undefined;
  headings.forEach((h, i) => {
    while (stack.length > 0 && stack[stack.length - 1]!.level >= h.level) stack.pop();
    stack.push(h);
    const next = headings[i + 1];
    const end = next?.at ?? text.length;
    const start = carried ?? h.at;
    carried = undefined;
    if (next && next.level > h.level && text.slice(h.at, end).trim() === h.title) {
      carried = start;
      return;
    }
    const lineEnd = text.indexOf("\n", h.at);
    out.push({ start, end, headingEnd: lineEnd < 0 || lineEnd > end ? end : lineEnd, headingPath: stack.map((s) => s.title) });
  });
  return out;
}
