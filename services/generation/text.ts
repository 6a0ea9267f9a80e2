/**
 * Text primitives shared by the extractive answerer, citation quoting and context packing: sentence
 * splitting that keeps exact offsets (quotes must be verbatim substrings), normalised terms for matching,
 * and a token estimate for budgets.
 */

/** A sentence of a passage: `text === source.slice(start, end)` (UTF-16 offsets). */
export interface Sentence {
  text: string;
  start: number;
  end: number;
}

/** A normalised term and where it sits in its text (index among all word tokens, stop words included). */
export interface Term {
  stem: string;
  /** The surface form as written (not normalised), for case cues such as proper names. */
  surface: string;
  position: number;
}

const segmenter = new Intl.Segmenter("en", { granularity: "sentence" });

// ICU breaks after every "Dr." and "J."; these are the usual abbreviations that do not end a sentence.
const ABBREVIATIONS = new Set(
  (
    "mr mrs ms dr prof sr jr st mt ft vs etc inc ltd co corp gen col lt sgt capt cmdr adm gov sen rep rev " +
    "hon pres supt no nos vol vols fig figs approx ca cf al jan feb mar apr jun jul aug sep sept oct nov dec " +
    "e.g i.e a.m p.m ed eds est op dept univ ave blvd"
  ).split(" "),
);

/**
 * Splits `text` into sentences with their offsets. Paragraph and line breaks always end a sentence; an
 * abbreviation, an initial or a dotted acronym followed by a name does not.
 */
export function splitSentences(text: string): Sentence[] {
  const raw: Sentence[] = [];
  for (const seg of segmenter.segment(text)) {
    const lead = seg.segment.length - seg.segment.trimStart().length;
    const body = seg.segment.trim();
    if (body === "") continue;
    raw.push({ text: body, start: seg.index + lead, end: seg.index + lead + body.length });
  }
  const out: Sentence[] = [];
  for (const s of raw) {
    const prev = out[out.length - 1];
    if (prev && continuesSentence(prev, s, text)) {
      out[out.length - 1] = { text: text.slice(prev.start, s.end), start: prev.start, end: s.end };
    } else {
      out.push(s);
    }
  }
  return out;
}

function continuesSentence(prev: Sentence, next: Sentence, source: string): boolean {
  if (/\n/.test(source.slice(prev.end, next.start))) return false;
  if (!prev.text.endsWith(".")) return false;
  const written = /([\p{L}.]+)\.$/u.exec(prev.text)?.[1] ?? "";
  const lastWord = written.toLowerCase();
  const nextWord = /^[\p{L}\p{N}]+/u.exec(next.text)?.[0] ?? "";
  if (/^\p{Ll}/u.test(nextWord) || /^\p{N}/u.test(nextWord)) return true;
  if (ABBREVIATIONS.has(lastWord)) return true;
  if (/^\p{Lu}$/u.test(written)) return true; // an initial: "J. Doe"
  // "U.S. Army" goes on; "in the U.S. The next" starts a new sentence.
  if (/^(\p{L}\.)+\p{L}$/u.test(lastWord)) return !STOP_WORDS.has(nextWord.toLowerCase());
  return false;
}

export const STOP_WORDS = new Set(
  (
    "a about above after again against all am an and any are as at be because been before being below between both but by " +
    "can could did do does doing down during each few for from further had has have having he her here hers herself him " +
    "himself his how i if in into is it its itself just me more most my myself no nor not of off on once only or other our " +
    "ours ourselves out over own same she should so some such than that the their theirs them themselves then there these " +
    "they this those through to too under until up very was we were what when where which while who whom whose why will " +
    "with would you your yours yourself yourselves also may might must shall upon whether within without per via among " +
    "s t don't isn't wasn't aren't weren't"
  ).split(" "),
);

const WORD = /[\p{L}\p{N}]+(?:['’]\p{L}+)?/gu;

/** Lower case, no diacritics, typographic apostrophes folded: "Pokémon’s" -> "pokemon's". */
export function normalise(word: string): string {
  return word.normalize("NFKD").replace(/\p{M}+/gu, "").toLowerCase().replace(/’/g, "'");
}

/** Word tokens of `text`, stop words removed, each with its stem and its position among all tokens. */
export function terms(text: string): Term[] {
  const out: Term[] = [];
  let position = 0;
  for (const m of text.matchAll(WORD)) {
    const word = normalise(m[0]).replace(/'s$/, "");
    if (!STOP_WORDS.has(word)) out.push({ stem: stem(word), surface: m[0], position });
    position++;
  }
  return out;
}

/**
 * A light English stemmer (plural, -ing, -ed, -ly, a few derivational endings). It only has to map the
 * forms a question and a passage use for the same idea onto one key; both sides go through it.
 */
export function stem(word: string): string {
  let w = word;
  if (w.length <= 3 || /\d/.test(w)) return w;
  if (w.endsWith("ies") && w.length > 4) w = w.slice(0, -3) + "y";
  else if (/(?:ss|us|is)$/.test(w)) {
    /* "glass", "virus", "analysis": not plurals */
  } else if (/(?:sh|ch|x|z)es$/.test(w)) w = w.slice(0, -2);
  else if (w.endsWith("s") && !w.endsWith("ss")) w = w.slice(0, -1);

  for (const [suffix, min] of [
    ["ational", 8],
    ["ization", 8],
    ["fulness", 8],
    ["ousness", 8],
    ["iveness", 8],
    ["ations", 7],
    ["ation", 6],
    ["ments", 7],
    ["ment", 6],
    ["ness", 6],
    ["ingly", 7],
    ["edly", 6],
    ["ing", 5],
    ["ed", 4],
    ["ly", 5],
    ["er", 5],
  ] as const) {
    if (w.endsWith(suffix) && w.length >= min) {
      w = w.slice(0, -suffix.length);
      // "stopping" -> "stopp" -> "stop"; "hoped" -> "hop" stays apart from "hope" only rarely matters.
      if (/([b-df-hj-np-tv-z])\1$/.test(w) && !/(?:ll|ss|zz)$/.test(w)) w = w.slice(0, -1);
      break;
    }
  }
  if (w.length > 4 && w.endsWith("e")) w = w.slice(0, -1);
  if (w.length > 3 && w.endsWith("y")) w = w.slice(0, -1) + "i";
  return w;
}

const PIECE = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]|\p{L}+|\p{N}+|[^\s\p{L}\p{N}]/gu;

/**
 * Estimated tokens of `text` for a BPE tokenizer of the GPT family. It errs high (long words count as
 * several tokens, each CJK character as one, digits in groups of three) so a budget packed with it holds.
 */
export function estimateTokens(text: string): number {
  let tokens = 0;
  for (const m of text.matchAll(PIECE)) {
    const piece = m[0];
    if (/^\p{L}/u.test(piece)) tokens += piece.length <= 6 ? 1 : Math.ceil(piece.length / 5);
    else if (/^\p{N}/u.test(piece)) tokens += Math.ceil(piece.length / 3);
    else tokens += 1;
  }
  return tokens;
}

/** The end offset of the longest run of whole words of `text` from `start` (up to `end`) that fits `tokens`. */
export function cutToTokens(text: string, start: number, end: number, tokens: number): number {
  let cut = start;
  let used = 0;
  // The estimate never spans whitespace, so words add up one by one.
  for (const m of text.slice(start, end).matchAll(/\S+/g)) {
    used += estimateTokens(m[0]);
    if (used > tokens) break;
    cut = start + m.index + m[0].length;
  }
  return cut;
}

/** Offset in Unicode code points of the UTF-16 offset `index` of `text` (the contract counts code points). */
export function codePointOffset(text: string, index: number): number {
  let count = 0;
  for (let i = 0; i < index; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < index) i++;
    count++;
  }
  return count;
}
