/**
 * Client-side BM25 for Qdrant: each text becomes a sparse vector of hashed terms. A document's value for
 * a term is BM25's saturated term frequency, tf (k1 + 1) / (tf + k1 (1 - b + b |d| / avgdl)); a query
 * gives each of its distinct terms the value 1. The collection's sparse vector has the `idf` modifier, so
 * Qdrant multiplies each term by ln(1 + (N - n + 0.5) / (n + 0.5)) from its own, always current counts,
 * and the dot product is the BM25 score.
 *
 * The analyser follows the embedded index's (LanceDB) measured best: lower case, accents folded, English
 * stop words dropped, plural and common inflection endings folded. |d| is counted after stop words, and
 * avgdl is a constant (no corpus statistics on the client) set near typical chunk lengths.
 */
const K1 = 1.2;
const B = 0.75;
const AVERAGE_LENGTH = 80;

// Function words that carry no topic; questions are full of them.
const STOP_WORDS = new Set(
  `a an and are as at be been but by can could did do does for from had has have he her his how i if in into is it
  its itself me my no nor not of on or our she so such than that the their them then there these they this those
  to too was we were what when where which while who whom whose why will with would you your`.split(/\s+/),
);

/** Lower-cased, accent-folded words with stop words removed and endings folded. */
export function terms(text: string): string[] {
  const folded = text.normalize("NFKD").replace(/\p{M}+/gu, "").toLowerCase().replace(/['’‘`]/g, "");
  const words = folded.match(/[\p{L}\p{N}]+/gu) ?? [];
  return words.filter((w) => !STOP_WORDS.has(w)).map(stem);
}

/**
 * A light stemmer (plural and -ed/-ing folding with Harman's S-stemmer rules at its core): "crises" and
 * "crisis" stay apart, "countries" meets "country", "invented" meets "invent". Deliberately conservative:
 * a wrong merge costs precision that BM25 cannot win back.
 */
export function stem(w: string): string {
  if (w.length <= 3 || !/^[a-z]+$/.test(w)) return w;
  if (w.endsWith("ies") && !w.endsWith("eies") && !w.endsWith("aies")) return `${w.slice(0, -3)}y`;
  if (w.endsWith("es") && !/(aes|ees|oes)$/.test(w)) return /(ches|shes|sses|xes|zes)$/.test(w) ? w.slice(0, -2) : w.slice(0, -1);
  if (w.endsWith("s") && !/(us|ss|is)$/.test(w)) return w.slice(0, -1);
  if (w.length > 5 && w.endsWith("ing")) return undouble(w.slice(0, -3));
  if (w.length > 4 && w.endsWith("ed") && !w.endsWith("eed")) return undouble(w.slice(0, -2));
  return w;
}

function undouble(w: string): string {
  return /([b-df-hj-np-tv-z])\1$/.test(w) && !/(ll|ss|zz)$/.test(w) ? w.slice(0, -1) : w;
}

/** 32-bit FNV-1a of the term: Qdrant sparse indices are u32. Collisions are rare and only merge two terms. */
export function termIndex(term: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < term.length; i++) h = Math.imul(h ^ term.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export interface SparseVector {
  indices: number[];
  values: number[];
}

function counts(text: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const t of terms(text)) {
    const i = termIndex(t);
    out.set(i, (out.get(i) ?? 0) + 1);
  }
  return out;
}

export function documentVector(text: string): SparseVector {
  const tf = counts(text);
  let length = 0;
  for (const c of tf.values()) length += c;
  const norm = K1 * (1 - B + (B * length) / AVERAGE_LENGTH);
  const indices = [...tf.keys()].sort((a, b) => a - b);
  return { indices, values: indices.map((i) => (tf.get(i)! * (K1 + 1)) / (tf.get(i)! + norm)) };
}

export function queryVector(text: string): SparseVector {
  const indices = [...counts(text).keys()].sort((a, b) => a - b);
  return { indices, values: indices.map(() => 1) };
}
