import { porterStem } from "./porter-stemmer.js";
import { COMMON_WORDS, STOPWORDS } from "./stopwords.js";

/**
 * The local embedder: a deterministic hashed bag of features, no model and no download. Two texts get
 * similar vectors when they share words (after stemming), word pairs, or pieces of words:
 *
 *   - word unigrams, stemmed (Porter): "invented" and "invention" meet on "invent";
 *   - word bigrams of adjacent content words (stopwords skipped): "oil crisis", "bank england";
 *   - character 3-5-grams of each unstemmed word, with word boundaries ("<inv", "ted>"): spelling
 *     variants, compounds and irregular forms ("began"/"begin") still share something.
 *
 * Every feature is hashed (32-bit FNV-1a, murmur3 finaliser) into one of `dimensions` buckets with a
 * hashed sign, so collisions cancel on average instead of piling up. Term frequency is damped (1 + ln tf);
 * stopwords keep a small weight and frequent content words a reduced one (a fixed stand-in for the IDF a
 * corpus-free model cannot know); the vector is L2-normalised, so the dot product of two vectors is
 * their cosine similarity. Text is lower-cased and accent-folded (NFKD without combining marks) first.
 *
 * Pure and synchronous: the same text always gives the same vector, in any process, at any batch size.
 */

export const DEFAULT_DIMENSIONS = 512;

/** How much each kind of feature counts; the defaults were chosen on SQuAD v1.1 dev questions against their passages. */
export interface FeatureWeights {
  /** A stemmed content word. */
  word: number;
  /** Two adjacent content words. */
  bigram: number;
  /** All character n-grams of one word together (spread over its n-grams). */
  charGrams: number;
  /** Factor on a stopword's unigram weight (stopwords get no bigrams and no n-grams). */
  stopword: number;
  /** Factor on a frequent content word ("year", "called", "number"): a stand-in for a low IDF. */
  common: number;
}

// Each of a word's ~15 n-grams weighs about a quarter of the word; together they count as much as it does.
export const DEFAULT_WEIGHTS: Readonly<FeatureWeights> = { word: 1, bigram: 0.3, charGrams: 1, stopword: 0.1, common: 0.4 };

export interface LocalEmbedderOptions {
  dimensions?: number;
  weights?: Partial<FeatureWeights>;
}

export interface LocalEmbeddings {
  vectors: Float32Array[];
  /** Words read across all texts: the local stand-in for provider tokens. */
  tokens: number;
}

/** The model name the local embedder reports, e.g. "local-hash-512". */
export function localModelName(dimensions: number): string {
  return `local-hash-${dimensions}`;
}

export function embed(texts: readonly string[], opts: LocalEmbedderOptions = {}): Float32Array[] {
  return embedWithUsage(texts, opts).vectors;
}

export function embedWithUsage(texts: readonly string[], opts: LocalEmbedderOptions = {}): LocalEmbeddings {
  const dimensions = opts.dimensions ?? DEFAULT_DIMENSIONS;
  if (!Number.isInteger(dimensions) || dimensions < 1) throw new RangeError(`dimensions must be a positive integer, got ${dimensions}`);
  const weights = { ...DEFAULT_WEIGHTS, ...opts.weights };
  const features = new FeatureCounts();
  let tokens = 0;
  const vectors = texts.map((text) => {
    const words = tokenize(text);
    tokens += words.length;
    features.clear();
    collectFeatures(words, weights, features);
    return features.project(dimensions);
  });
  return { vectors, tokens };
}

/** Lower-cased, accent-folded words; a text with no letters or digits falls back to its symbols. */
export function tokenize(text: string): string[] {
  const folded = text.normalize("NFKD").replace(/\p{M}+/gu, "").toLowerCase().replace(/['’‘`]/g, "");
  return folded.match(/[\p{L}\p{N}]+/gu) ?? folded.match(/\S+/g) ?? [];
}

const SEED_WORD = 0x2c1b3c6d;
const SEED_CHAR = 0x297a2d39;
const SEED_BIGRAM = 0x6a09e667;

function collectFeatures(words: readonly string[], w: FeatureWeights, out: FeatureCounts): void {
  let previous: { hash: number; weight: number } | undefined; // the previous content word, for bigrams
  for (const word of words) {
    const stem = stemOf(word);
    const hash = hashString(stem, SEED_WORD);
    if (STOPWORDS.has(word)) {
      out.add(hash, w.word * w.stopword);
      continue;
    }
    // A prior in place of the IDF a corpus-free model cannot know: frequent words say less.
    const weight = COMMON_STEMS.has(stem) ? w.common : 1;
    out.add(hash, w.word * weight);
    if (previous !== undefined) out.add(fmix32(Math.imul(previous.hash, 0x9e3779b1) ^ hash ^ SEED_BIGRAM), w.bigram * Math.min(weight, previous.weight));
    previous = { hash, weight };
    addCharGrams(word, w.charGrams * weight, out);
  }
}

/** Character 3-5-grams of "<word>", hashed straight from the char codes (no substrings allocated). */
function addCharGrams(word: string, totalWeight: number, out: FeatureCounts): void {
  const padded = word.length + 2;
  if (padded < 4) return; // one-letter words: their only gram is the word itself
  let grams = 0;
  for (let n = 3; n <= 5; n++) grams += Math.max(0, padded - n + 1);
  // Spread over sqrt(count): a long word says more than a short one, but not proportionally more.
  const weight = totalWeight / Math.sqrt(grams);
  for (let start = 0; start + 3 <= padded; start++) {
    let h = (0x811c9dc5 ^ SEED_CHAR) >>> 0;
    for (let end = start; end < Math.min(start + 5, padded); end++) {
      const code = end === 0 ? 60 /* < */ : end === padded - 1 ? 62 /* > */ : word.charCodeAt(end - 1);
      h = Math.imul(h ^ code, 0x01000193);
      if (end - start >= 2) out.add(fmix32(h), weight);
    }
  }
}

/**
 * Sparse feature counts of one text: an open-addressing hash table on typed arrays, reused across texts
 * (clearing is a generation bump). A Map here cost three times as much, in lookups and garbage.
 */
class FeatureCounts {
  private capacity = 1 << 12;
  private keys = new Uint32Array(this.capacity);
  /** A slot is in use when its stamp equals the current generation. */
  private stamps = new Uint32Array(this.capacity);
  private counts = new Float64Array(this.capacity);
  private weights = new Float64Array(this.capacity);
  /** Slots in use, in insertion order. */
  private used = new Int32Array(this.capacity);
  private size = 0;
  private generation = 1;

  clear(): void {
    this.size = 0;
    this.generation++;
    if (this.generation === 0xffffffff) {
      this.stamps.fill(0);
      this.generation = 1;
    }
  }

  /** Counts one occurrence of a feature; its weight is set by the first. `hash` is an unsigned 32-bit value. */
  add(hash: number, weight: number): void {
    if (this.size * 2 >= this.capacity) this.grow();
    const mask = this.capacity - 1;
    let slot = hash & mask;
    while (this.stamps[slot] === this.generation) {
      if (this.keys[slot] === hash) {
        this.counts[slot]!++;
        return;
      }
      slot = (slot + 1) & mask;
    }
    this.stamps[slot] = this.generation;
    this.keys[slot] = hash;
    this.counts[slot] = 1;
    this.weights[slot] = weight;
    this.used[this.size++] = slot;
  }

  private grow(): void {
    const { keys, counts, weights, used, size } = this;
    this.capacity *= 2;
    this.keys = new Uint32Array(this.capacity);
    this.stamps = new Uint32Array(this.capacity);
    this.counts = new Float64Array(this.capacity);
    this.weights = new Float64Array(this.capacity);
    this.used = new Int32Array(this.capacity);
    this.size = 0;
    this.generation = 1;
    for (let k = 0; k < size; k++) {
      const old = used[k]!;
      this.add(keys[old]!, weights[old]!);
      this.counts[this.used[k]!] = counts[old]!;
    }
  }

  /** Signed feature hashing into `dimensions` buckets, sublinear tf, L2 normalisation. */
  project(dimensions: number): Float32Array {
    const dense = new Float64Array(dimensions);
    for (let k = 0; k < this.size; k++) {
      const slot = this.used[k]!;
      const hash = this.keys[slot]!;
      const value = this.weights[slot]! * (1 + Math.log(this.counts[slot]!));
      const bucket = (hash & 0x7fffffff) % dimensions;
      dense[bucket]! += hash & 0x80000000 ? -value : value;
    }
    let norm = 0;
    for (let i = 0; i < dimensions; i++) norm += dense[i]! * dense[i]!;
    const out = new Float32Array(dimensions);
    if (norm === 0) return out; // only for a text with nothing in it: callers reject those
    const scale = 1 / Math.sqrt(norm);
    for (let i = 0; i < dimensions; i++) out[i] = dense[i]! * scale;
    return out;
  }
}

// Stemming dominates the cost of short texts; words repeat a lot, so stems are memoised (bounded).
const STEM_MEMO_LIMIT = 200_000;
const stems = new Map<string, string>();

const COMMON_STEMS: ReadonlySet<string> = new Set([...COMMON_WORDS].map(porterStem));

function stemOf(word: string): string {
  let stem = stems.get(word);
  if (stem === undefined) {
    stem = /^[a-z]+$/.test(word) ? porterStem(word) : word;
    if (stems.size >= STEM_MEMO_LIMIT) stems.clear();
    stems.set(word, stem);
  }
  return stem;
}

function hashString(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return fmix32(h);
}

/** murmur3's finaliser: spreads FNV's weak low bits over the whole word. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
