/**
 * Measures the extractive answerer on SQuAD v1.1 dev: for each sampled question it gets the gold passage
 * plus the next passages of the corpus as distractors (mostly the same article: hard negatives), with the
 * gold passage's position rotating so the retrieval-rank prior cannot point at it. It reports how often the
 * answer contains one of the crowd answers ("containment"), as a figure, not a pass/fail.
 *
 * With --bm25 it also runs the end-to-end setting instead: the passages are plain BM25's top hits over the
 * whole corpus (gold passage or not), the setting in which quoting BM25's best-matching sentence scores ~66%.
 *
 *   node --import tsx services/generation/eval-extractive.ts [--questions 1000] [--passages 5] [--bm25] [--dataset DIR]
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { answerExtractively, DEFAULT_EXTRACTIVE, type ExtractiveOptions } from "./extractive.js";
import type { NumberedPassage } from "./provider.js";
import { terms } from "./text.js";

interface CorpusEntry {
  id: string;
  title: string;
  text: string;
}
interface Query {
  id: string;
  question: string;
  answers: string[];
  gold_ids: string[];
}

const { values } = parseArgs({
  options: {
    dataset: { type: "string", default: new URL("../../../shared/datasets/squad-v1.1-dev", import.meta.url).pathname },
    questions: { type: "string", default: "1000" },
    passages: { type: "string", default: "5" },
    bm25: { type: "boolean", default: false },
  },
});

const readJsonl = <T>(path: string): T[] =>
  readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as T);

const corpus = readJsonl<CorpusEntry>(`${values.dataset}/corpus.jsonl`);
const queries = readJsonl<Query>(`${values.dataset}/queries.jsonl`);
const position = new Map(corpus.map((c, i) => [c.id, i]));
const wanted = Math.min(Number(values.questions), queries.length);
const perQuestion = Number(values.passages);
// An even stride over the file covers every article, not just the first few.
const stride = queries.length / wanted;
const sample = Array.from({ length: wanted }, (_, i) => queries[Math.floor(i * stride)]!);

/** SQuAD's answer normalisation: lower case, no punctuation, no articles, single spaces. */
function squadNormalise(s: string): string {
  return ` ${s.toLowerCase().replace(/[^\p{L}\p{N}\s]/gu, " ").replace(/\b(a|an|the)\b/g, " ").replace(/\s+/g, " ").trim()} `;
}

function goldContextFor(q: Query, index: number): { passages: NumberedPassage[]; gold: number } {
  const goldAt = position.get(q.gold_ids[0]!)!;
  const others = Array.from({ length: perQuestion - 1 }, (_, k) => corpus[(goldAt + 1 + k) % corpus.length]!);
  const gold = index % perQuestion;
  const ordered = [...others.slice(0, gold), corpus[goldAt]!, ...others.slice(gold)];
  return {
    gold,
    passages: ordered.map((c, i) => ({ number: i + 1, chunkId: c.id, documentId: c.id, title: c.title, sourceUri: "", text: c.text })),
  };
}

/** Plain BM25 (k1 1.2, b 0.75) over the corpus, with the answerer's own tokenizer: a stand-in for retrieval. */
function bm25Index() {
  const docs = corpus.map((c) => terms(`${c.title} ${c.text}`).map((t) => t.stem));
  const df = new Map<string, number>();
  for (const d of docs) for (const t of new Set(d)) df.set(t, (df.get(t) ?? 0) + 1);
  const avg = docs.reduce((sum, d) => sum + d.length, 0) / docs.length;
  const tf = docs.map((d) => d.reduce((m, t) => m.set(t, (m.get(t) ?? 0) + 1), new Map<string, number>()));
  return (question: string, k: number): CorpusEntry[] => {
    const q = [...new Set(terms(question).map((t) => t.stem))];
    const scored = tf.map((m, i) => {
      let score = 0;
      for (const t of q) {
        const f = m.get(t);
        if (!f) continue;
        const n = df.get(t)!;
        score += Math.log(1 + (docs.length - n + 0.5) / (n + 0.5)) * ((f * 2.2) / (f + 1.2 * (0.25 + (0.75 * docs[i]!.length) / avg)));
      }
      return { i, score };
    });
    return scored.sort((a, b) => b.score - a.score).slice(0, k).map((s) => corpus[s.i]!);
  };
}
const search = values.bm25 ? bm25Index() : undefined;

function contextFor(q: Query, index: number): { passages: NumberedPassage[]; gold: number } {
  if (!search) return goldContextFor(q, index);
  const hits = search(q.question, perQuestion);
  return {
    gold: hits.findIndex((h) => h.id === q.gold_ids[0]),
    passages: hits.map((c, i) => ({ number: i + 1, chunkId: c.id, documentId: c.id, title: c.title, sourceUri: "", text: c.text })),
  };
}

function evaluate(label: string, options: ExtractiveOptions) {
  let exact = 0;
  let normalised = 0;
  let unanswered = 0;
  let goldCited = 0;
  let sentences = 0;
  let words = 0;
  sample.forEach((q, i) => {
    const { passages, gold } = contextFor(q, i);
    const result = answerExtractively(q.question, passages, options);
    if (!result.answered) {
      unanswered++;
      return;
    }
    const text = result.answer;
    if (q.answers.some((a) => text.includes(a))) exact++;
    if (q.answers.some((a) => squadNormalise(text).includes(squadNormalise(a)))) normalised++;
    if (result.citations.some((c) => c.marker === gold + 1)) goldCited++;
    sentences += (text.match(/ \[\d+\]/g) ?? []).length;
    words += text.split(/\s+/).length;
  });
  const pct = (n: number) => `${((100 * n) / sample.length).toFixed(1)}%`;
  const answered = sample.length - unanswered;
  console.log(
    [
      label.padEnd(28),
      `contains answer ${pct(exact)}`,
      `(normalised ${pct(normalised)})`,
      `gold cited ${pct(goldCited)}`,
      `unanswered ${pct(unanswered)}`,
      `quotes/answer ${(sentences / Math.max(1, answered)).toFixed(2)}`,
      `words/answer ${(words / Math.max(1, answered)).toFixed(1)}`,
    ].join("  "),
  );
}

console.log(
  search
    ? `SQuAD v1.1 dev: ${sample.length} questions, passages = plain BM25's top ${perQuestion} over the ${corpus.length} passages`
    : `SQuAD v1.1 dev: ${sample.length} questions, gold passage + ${perQuestion - 1} distractors (the next corpus passages), gold position rotating`,
);
evaluate("one sentence (concise)", { ...DEFAULT_EXTRACTIVE, maxSentences: 1 });
evaluate(`default (≤${DEFAULT_EXTRACTIVE.maxSentences} sentences)`, DEFAULT_EXTRACTIVE);
evaluate("up to 3 sentences (detailed)", { ...DEFAULT_EXTRACTIVE, maxSentences: 3 });
