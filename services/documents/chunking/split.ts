import { isHighSurrogate } from "./offsets.js";

/*
 * Packs one section into chunks of at most `size` UTF-16 units (= characters outside the astral planes).
 * Each chunk ends at the best boundary the size allows, in this order of preference:
 *   1. a paragraph end (blank line) in the second half of the window,
 *   2. a sentence end in the second half,
 *   3. a paragraph end, then a sentence end, anywhere in the window,
 *   4. a space (a word boundary),
 *   5. a dictionary word boundary (Intl.Segmenter: scripts written without spaces),
 *   6. the window's end, for a single "word" longer than the size (kept whole code points).
 * The next chunk starts `overlap` characters or less before the previous one ended, at a sentence start
 * if one lies in that tail, else at a word start. Chunks never start or end on whitespace.
 */

export interface SplitOptions {
  /** Most UTF-16 units in one chunk. */
  size: number;
  /** Most UTF-16 units a chunk repeats from the end of the one before it. */
  overlap: number;
}

const SENTENCES = new Intl.Segmenter("en", { granularity: "sentence" });
const WORDS = new Intl.Segmenter("en", { granularity: "word" });
/** Text past the window end that sentence detection may look at ("Dr. Who" must not end at "Dr."). */
const LOOKAHEAD = 32;
/** CJK and full-width punctuation ("。", "！"): scripts without spaces end sentences with these. */
const UNSPACED_PUNCTUATION = /[\u3000-\u303F\uFF01-\uFF0F\uFF1A-\uFF20\uFF3B-\uFF40\uFF5B-\uFF65]/u;

/**
 * [start, end) pairs, UTF-16 indices into `text`, covering every non-space character of [start, end).
 * `headingEnd`: the first chunk ends after it when the heading is short, so no chunk is a bare heading.
 */
export function splitSection(text: string, start: number, end: number, headingEnd: number, opts: SplitOptions): [number, number][] {
  const out: [number, number][] = [];
  const last = trimEnd(text, start, end);
  let s = skipSpace(text, start, last);
  let prevEnd = headingEnd - s <= opts.size / 2 ? Math.max(s, headingEnd) : s;
  let next = s;
  const endFrom = (from: number) => (last - from <= opts.size ? { at: last, hard: false } : chunkEnd(text, from, prevEnd, last, opts.size));
  while (s < last) {
    let end = endFrom(s);
    // Overlap is worth less than a whole word: when the repeated tail leaves room only for cutting a word
    // that would fit a chunk of its own, start without the overlap.
    if (end.hard && s < next) end = endFrom((s = next));
    out.push([s, end.at]);
    next = skipSpace(text, end.at, last);
    if (next >= last) break;
    prevEnd = end.at;
    s = overlapStart(text, s, end.at, next, opts);
  }
  return out;
}

/** Where a chunk starting at `s` ends: past `floor` (always progress), at most `size` after `s`. */
function chunkEnd(text: string, s: number, floor: number, sectionEnd: number, size: number): { at: number; hard: boolean } {
  const window = text.slice(s, Math.min(sectionEnd, s + size + LOOKAHEAD));
  const valid = (c: number) => c > 0 && c <= size && trimEnd(text, s, s + c) > floor;
  const lastValid = (cuts: number[], above: number) => {
    for (let i = cuts.length - 1; i >= 0 && cuts[i]! > above; i--) if (valid(cuts[i]!)) return cuts[i];
    return undefined;
  };
  const half = Math.floor(size / 2);
  const paragraphs = paragraphCuts(window, size);
  let sentences: number[] | undefined;
  const sentenceCutsOnce = () => (sentences ??= sentenceCuts(window, size));
  const cut =
    lastValid(paragraphs, half) ??
    lastValid(sentenceCutsOnce(), half) ??
    lastValid(paragraphs, 0) ??
    lastValid(sentenceCutsOnce(), 0) ??
    lastSpace(window, size, valid) ??
    lastValid(wordCuts(window, size), 0);
  return cut === undefined ? { at: s + hardCut(window, size), hard: true } : { at: trimEnd(text, s, s + cut), hard: false };
}

function paragraphCuts(window: string, size: number): number[] {
  const cuts: number[] = [];
  for (let i = window.indexOf("\n\n"); i >= 0 && i <= size; i = window.indexOf("\n\n", i + 2)) cuts.push(i);
  return cuts;
}

function sentenceCuts(window: string, size: number): number[] {
  const cuts: number[] = [];
  for (const { index } of SENTENCES.segment(window)) {
    if (index > size) break;
    if (index > 0 && canBreakBefore(window, index)) cuts.push(index);
  }
  return cuts;
}

function lastSpace(window: string, size: number, valid: (c: number) => boolean): number | undefined {
  for (let c = Math.min(size, window.length - 1); c > 0; c--) if (isSpace(window.charCodeAt(c)) && valid(c)) return c;
  return undefined;
}

function wordCuts(window: string, size: number): number[] {
  const cuts: number[] = [];
  for (const { index } of WORDS.segment(window.slice(0, size + 1))) if (index > 0 && index <= size) cuts.push(index);
  return cuts;
}

/** A single run longer than the size: cut at the size, never between a surrogate pair or before a combining mark. */
function hardCut(window: string, size: number): number {
  let c = size;
  for (let back = 0; back < 8 && c > 1 && /\p{M}/u.test(window[c] ?? ""); back++) c--;
  if (isHighSurrogate(window.charCodeAt(c - 1))) c--;
  return c;
}

/** Where the chunk after [s, e) starts, given `next`, the first character after e. */
function overlapStart(text: string, s: number, e: number, next: number, opts: SplitOptions): number {
  const from = Math.max(e - opts.overlap, s + 1);
  if (from >= e) return next;
  let start: number | undefined;
  for (const { index } of SENTENCES.segment(text.slice(s, e))) {
    const p = s + index;
    if (p >= from && !isSpace(text.charCodeAt(p)) && canBreakBefore(text, p)) {
      start = p;
      break;
    }
  }
  for (let p = from; start === undefined && p < e; p++) if (!isSpace(text.charCodeAt(p)) && canBreakBefore(text, p)) start = p;
  // The next chunk must reach past `next`; a long run of spaces after e leaves no room for the overlap.
  return start === undefined || next - start >= opts.size ? next : start;
}

/** True when a chunk may begin (or the previous one end) right before `i` without splitting a word. */
function canBreakBefore(text: string, i: number): boolean {
  return isSpace(text.charCodeAt(i - 1)) || isSpace(text.charCodeAt(i)) || UNSPACED_PUNCTUATION.test(text[i - 1] ?? "") || UNSPACED_PUNCTUATION.test(text[i] ?? "");
}

/** Breakable whitespace; no-break spaces (U+00A0, U+2007, U+202F) bind what they separate. */
function isSpace(c: number): boolean {
  if (c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d) return true;
  if (c < 0x80 || c === 0xa0 || c === 0x2007 || c === 0x202f) return false;
  return c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x205f || c === 0x3000 || c === 0x85;
}

function skipSpace(text: string, i: number, end: number): number {
  while (i < end && isSpace(text.charCodeAt(i))) i++;
  return i;
}

function trimEnd(text: string, start: number, i: number): number {
  while (i > start && isSpace(text.charCodeAt(i - 1))) i--;
  return i;
}
