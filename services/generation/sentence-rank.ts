import { splitSentences, stem, terms, type Sentence, type Term } from "./text.js";

/**
 * Ranks the sentences of a few passages by how well they answer a question. Signals, all computed from
 * the question and the given passages alone (no model, no corpus statistics):
 * - question-term overlap weighted by IDF over the sentences of the passages (rare shared terms matter);
 * - a bonus for question bigrams found as phrases, and for matched terms that sit close together;
 * - the passage's own overlap with the question and the previous sentence's (answers often use a pronoun
 *   for what the question names), the passage title counting as context;
 * - the expected answer type (who, when, where, how many) found in the sentence beyond the question's words;
 * - the passage's retrieval rank, as a weak prior.
 * A question or a heading is matched together with the sentence under it (an FAQ's answer). Each sentence
 * also reports what tells an answer from a restatement of the question (whether it asks, what it adds).
 */

export interface RankPassage {
  title?: string;
  text: string;
}

export interface RankedSentence {
  /** Index of the passage in the input. */
  passage: number;
  /** Index of the sentence within its passage. */
  index: number;
  sentence: Sentence;
  score: number;
  /**
   * IDF-weighted share of the question's terms found in the sentence itself, 0..1; for the sentence right
   * after a question or a heading of its passage, in the two together (an FAQ's answer rarely repeats the
   * question it sits under).
   */
  coverage: number;
  /** The sentence is itself a question (it ends with "?"): it can restate the question, never answer it. */
  asks: boolean;
  /** The sentence is a heading: a short line of its own, without closing punctuation, with text after it. */
  heading: boolean;
  /**
   * Distinct content words the sentence adds to the question: not the question's words, not words that
   * only talk about a document ("this page explains"). A derived form counts ("Construction is the
   * process of constructing …"). A sentence with none merely restates the question.
   */
  novel: number;
  /** The sentence talks about a document ("this page explains …") with words the question does not use. */
  meta: boolean;
  /** The sentence holds something of the expected answer type (who, when, where, how many) beyond the question's words. */
  typed: boolean;
  /** Like `coverage`, with the passage's title counted too: the title names what the whole passage is about. */
  titled: number;
}

export interface RankWeights {
  bigram: number;
  proximity: number;
  passage: number;
  previous: number;
  title: number;
  answerType: number;
  rankPrior: number;
  /** How much a long sentence's coverage is discounted (BM25's b, on sentence length in words). */
  length: number;
  /** Credit for a word that shares a long prefix with a question word ("replicate", "replication"). */
  related: number;
}

// Tuned on a SQuAD v1.1 dev split (see eval-extractive.ts); the rank prior is kept small so a passage's
// own words, not its position, decide.
export const DEFAULT_WEIGHTS: RankWeights = {
  bigram: 0.25,
  proximity: 0.15,
  passage: 0.2,
  previous: 0.15,
  title: 0.3,
  answerType: 0.25,
  rankPrior: 0.02,
  length: 0.3,
  related: 0.5,
};

export type AnswerType = "number" | "date" | "person" | "place" | "none";

const TYPE_CUES: [AnswerType, RegExp][] = [
  ["date", /\b(when|what (year|years|date|day|month|century|decade|time|era|period|season)|which (year|century|decade|month|day|date|era|period)|in what year|how long ago|since when)\b/],
  ["number", /\b(how (many|much|long|old|far|large|big|tall|high|often|fast|heavy|deep|wide|late|early)|what (percentage|percent|number|amount|proportion|fraction|size|population|rate|speed|cost|price)|which number)\b/],
  ["person", /\b(who|whom|whose|what (person|man|woman|individual|group|company|organization|team|band)|which (person|man|woman|individual|president|king|queen|emperor|company|team|organization))\b/],
  ["place", /\b(where|what (city|country|state|place|location|region|continent|town|county|island|river|area|nation|province|mountain)|which (city|country|state|place|location|region|continent|town|county|island|river|area|nation|province))\b/],
];

const MONTHS = /^(january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec|monday|tuesday|wednesday|thursday|friday|saturday|sunday|century|centuries|bc|bce|ad|ce|decade|decades)$/;
const NUMBER_WORDS = /^(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|hundreds|thousand|thousands|million|millions|billion|billions|trillion|dozen|dozens|half|percent|twice|thrice|single|double|triple)$/;

/**
 * A yes/no question ("Do cats purr when content?"): its answer is the statement of the fact it asks about,
 * which may well use no word the question does not ("They purr when they are content").
 */
export function isPolar(question: string): boolean {
  return /^\s*(do|does|did|is|are|was|were|can|could|will|would|should|shall|has|have|had|may|might|must)\b/i.test(question);
}

export function answerType(question: string): AnswerType {
  const q = question.toLowerCase();
  for (const [type, cue] of TYPE_CUES) if (cue.test(q)) return type;
  return "none";
}

/** Whether a sentence holds something of the expected type that the question does not already say. */
function hasAnswerType(type: AnswerType, sentenceTerms: Term[], questionStems: Set<string>): boolean {
  if (type === "none") return false;
  return sentenceTerms.some((t) => {
    if (questionStems.has(t.stem)) return false;
    const lower = t.surface.toLowerCase();
    switch (type) {
      case "date":
        return /^(1\d{3}|20\d{2})s?$/.test(t.surface) || MONTHS.test(lower) || /^\d{1,2}(st|nd|rd|th)$/.test(lower);
      case "number":
        return /\d/.test(t.surface) || NUMBER_WORDS.test(lower);
      case "person":
      case "place":
        // A capitalised word that does not start the sentence: a name.
        return t.position > 0 && /^\p{Lu}/u.test(t.surface);
    }
  });
}

/**
 * Words that talk about a document or the act of asking rather than about its subject: "This page
 * explains how to reset your password" adds only these to "How do I reset my password?".
 */
const DOCUMENT_WORDS = new Set(
  (
    "page pages section sections article articles document documents guide guides faq faqs question questions topic topics " +
    "overview introduction information info detail details learn read see find following follow below above here help note " +
    "chapter tutorial manual step steps explain explains explained describe describes described cover covers covered " +
    "list listed want need know ask asked asking frequently common simple easy quick"
  )
    .split(" ")
    .map(stem),
);

/** Editors' notes that close a sentence without being part of it: "[citation needed]", "[when?]". */
const NOTES = /(\s*\[[^\]]*\])+$/;

/**
 * Whether a sentence is a question: it ends with "?", editors' notes aside. One that ends by quoting a
 * question ('Thesis 86 asks: "Why does the pope …?"') is a statement about it.
 */
function isQuestion(text: string): boolean {
  const body = text.replace(NOTES, "");
  const m = /\?(["'”’)]*)$/.exec(body);
  if (!m) return false;
  if (m[1] === "") return true;
  const inner = body.slice(0, m.index);
  const opening = Math.max(inner.lastIndexOf('"'), inner.lastIndexOf("“"), inner.lastIndexOf("‘"), inner.lastIndexOf("("));
  return opening < 0 || inner.slice(0, opening).trim() === "";
}

/** Any closing punctuation ends it: a heading has none. */
const CLOSED = /[.!?:;,…]["'”’)\]]*$/;

/** A sentence that is a line of its own, short and unpunctuated, with more text on later lines: a heading. */
function isHeading(text: string, sentence: Sentence): boolean {
  if (CLOSED.test(sentence.text) || sentence.text.split(/\s+/).length > 12) return false;
  const lineStart = text.lastIndexOf("\n", sentence.start - 1) + 1;
  if (text.slice(lineStart, sentence.start).trim() !== "") return false;
  const lineEnd = text.indexOf("\n", sentence.end);
  return lineEnd >= 0 && text.slice(sentence.end, lineEnd).trim() === "" && text.slice(lineEnd).trim() !== "";
}

interface SentenceInfo {
  passage: number;
  index: number;
  sentence: Sentence;
  stems: Set<string>;
  sequence: Term[];
  asks: boolean;
  heading: boolean;
}

export function rankSentences(question: string, passages: RankPassage[], weights: RankWeights = DEFAULT_WEIGHTS): RankedSentence[] {
  const qTerms = terms(question);
  const qStems = [...new Set(qTerms.map((t) => t.stem))];
  if (qStems.length === 0) return [];
  const qSet = new Set(qStems);
  const type = answerType(question);

  const sentences: SentenceInfo[] = [];
  const passageStems: Set<string>[] = [];
  const titleStems: Set<string>[] = [];
  passages.forEach((p, passage) => {
    const all = new Set<string>();
    splitSentences(p.text).forEach((sentence, index) => {
      const sequence = terms(sentence.text);
      const stems = new Set(sequence.map((t) => t.stem));
      for (const s of stems) all.add(s);
      sentences.push({ passage, index, sentence, stems, sequence, asks: isQuestion(sentence.text), heading: isHeading(p.text, sentence) });
    });
    passageStems.push(all);
    titleStems.push(new Set(terms(p.title ?? "").map((t) => t.stem)));
  });
  if (sentences.length === 0) return [];
  const averageLength = sentences.reduce((sum, s) => sum + s.sequence.length, 0) / sentences.length;

  // IDF over the sentences of the given passages: BM25's form, always positive.
  const n = sentences.length;
  const idf = new Map<string, number>();
  for (const q of qStems) {
    const df = sentences.filter((s) => s.stems.has(q)).length;
    idf.set(q, Math.log(1 + (n - df + 0.5) / (df + 0.5)));
  }
  const total = qStems.reduce((sum, q) => sum + idf.get(q)!, 0);
  const share = (credit: (q: string) => number | boolean) => qStems.reduce((sum, q) => sum + Number(credit(q)) * idf.get(q)!, 0) / total;

  // Question bigrams: consecutive content words of the question.
  const bigrams: [string, string][] = [];
  for (let i = 1; i < qTerms.length; i++) {
    if (qTerms[i]!.stem !== qTerms[i - 1]!.stem) bigrams.push([qTerms[i - 1]!.stem, qTerms[i]!.stem]);
  }
  const bigramTotal = bigrams.reduce((sum, [a, b]) => sum + idf.get(a)! + idf.get(b)!, 0);

  const ranked: RankedSentence[] = sentences.map((s, k) => {
    const prev = k > 0 && sentences[k - 1]!.passage === s.passage ? sentences[k - 1]! : undefined;
    // A question or a heading and the sentence under it are matched as one: "How do I reset my
    // password?" / "Open Settings, then Security." answers with the second but matches with both.
    const lead = prev && (prev.asks || prev.heading) ? prev : undefined;
    const has = (q: string) => s.stems.has(q) || (lead?.stems.has(q) ?? false);
    const coverage = share((q) => (has(q) ? 1 : related(q, s.stems) ? weights.related : 0));
    const titled = share((q) => (has(q) || titleStems[s.passage]!.has(q) ? 1 : related(q, s.stems) ? weights.related : 0));

    let bigram = 0;
    if (bigramTotal > 0) {
      let found = 0;
      for (const [a, b] of bigrams) {
        if (s.sequence.some((t, i) => t.stem === a && s.sequence[i + 1]?.stem === b)) found += idf.get(a)! + idf.get(b)!;
      }
      bigram = found / bigramTotal;
    }

    const proximity = matchedDensity(s.sequence, qSet);
    const fromPrevious = prev && !lead ? share((q) => !s.stems.has(q) && prev.stems.has(q)) : 0;
    const fromTitle = share((q) => !has(q) && titleStems[s.passage]!.has(q));
    const passageCoverage = share((q) => passageStems[s.passage]!.has(q));
    const typed = hasAnswerType(type, s.sequence, qSet) ? 1 : 0;
    // The title's words count as new: the title may well be the answer ("The Rhine is the longest river in Germany").
    const novel = new Set(s.sequence.map((t) => t.stem).filter((t) => !qSet.has(t) && !DOCUMENT_WORDS.has(t))).size;
    const meta = s.sequence.some((t) => !qSet.has(t.stem) && DOCUMENT_WORDS.has(t.stem));
    const prior = 1 / (1 + s.passage);

    // A long sentence matches more words by chance: discount it as BM25 discounts long documents.
    const lengthNorm = 1 / (1 - weights.length + (weights.length * Math.max(1, s.sequence.length)) / Math.max(1, averageLength));
    const score =
      coverage * lengthNorm +
      weights.bigram * bigram +
      weights.proximity * proximity * coverage +
      weights.previous * fromPrevious +
      weights.title * fromTitle +
      weights.passage * passageCoverage +
      weights.answerType * typed * Math.min(1, coverage * 2) +
      weights.rankPrior * prior;
    return { passage: s.passage, index: s.index, sentence: s.sentence, score, coverage, asks: s.asks, heading: s.heading, novel, meta, typed: typed === 1, titled };
  });
  return ranked.sort((a, b) => b.score - a.score || a.passage - b.passage || a.index - b.index);
}

/**
 * How tightly the matched question terms cluster: distinct matches divided by the length of the
 * shortest window (in word positions) holding all of them. 1 when they are adjacent, 0 with none.
 */
function matchedDensity(sequence: Term[], question: Set<string>): number {
  const hits = sequence.filter((t) => question.has(t.stem));
  const distinct = new Set(hits.map((t) => t.stem)).size;
  if (distinct === 0) return 0;
  if (distinct === 1) return 1;
  const count = new Map<string, number>();
  let best = Infinity;
  let left = 0;
  let covered = 0;
  for (let right = 0; right < hits.length; right++) {
    const r = hits[right]!.stem;
    count.set(r, (count.get(r) ?? 0) + 1);
    if (count.get(r) === 1) covered++;
    while (covered === distinct) {
      best = Math.min(best, hits[right]!.position - hits[left]!.position + 1);
      const l = hits[left]!.stem;
      count.set(l, count.get(l)! - 1);
      if (count.get(l) === 0) covered--;
      left++;
    }
  }
  return distinct / best;
}


/** Whether some stem of `stems` shares its first five letters with `q`: a derived form the stemmer missed. */
function related(q: string, stems: Set<string>): boolean {
  if (q.length < 5 || /\d/.test(q)) return false;
  const prefix = q.slice(0, 5);
  for (const s of stems) if (s.length >= 5 && s.startsWith(prefix)) return true;
  return false;
}
