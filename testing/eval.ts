/**
 * Retrieval and answer quality on a QA dataset in the shared layout (corpus.jsonl: id/title/text,
 * queries.jsonl: id/question/answers/gold_ids). Used by the end-to-end test and by `make bench`.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { UploadedFile } from "#gen/rag/v1/ingestion.js";

export const SQUAD_DIR = fileURLToPath(new URL("../../shared/datasets/squad-v1.1-dev", import.meta.url));

export interface Passage {
  id: string;
  title: string;
  text: string;
}

export interface Question {
  id: string;
  question: string;
  answers: string[];
  gold_ids: string[];
}

function readJsonl<T>(path: string): T[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line, i) => {
      try {
        return JSON.parse(line) as T;
      } catch {
        throw new Error(`${path}:${i + 1}: not valid JSON`);
      }
    });
}

export function loadDataset(dir: string): { corpus: Passage[]; questions: Question[] } {
  const corpus = readJsonl<Passage>(join(dir, "corpus.jsonl"));
  const questions = readJsonl<Question>(join(dir, "queries.jsonl"));
  for (const [i, p] of corpus.entries()) if (!p.id || !p.text) throw new Error(`corpus.jsonl line ${i + 1}: needs id and text`);
  for (const [i, q] of questions.entries()) {
    if (!q.question || !Array.isArray(q.gold_ids)) throw new Error(`queries.jsonl line ${i + 1}: needs question and gold_ids`);
  }
  return { corpus, questions };
}

/** A fixed, evenly spread sample: the same questions every run, from every part of the file. */
export function spreadSample<T>(items: T[], n: number): T[] {
  if (n >= items.length) return items;
  const step = items.length / n;
  return Array.from({ length: n }, (_, i) => items[Math.floor(i * step)]!);
}

/** Where a passage comes from, so an answer's sources can be mapped back to passage ids. */
export function passageUri(id: string): string {
  return `dataset://passage/${encodeURIComponent(id)}`;
}

export function passageIdOf(sourceUri: string): string | undefined {
  const m = /^dataset:\/\/passage\/(.+)$/.exec(sourceUri);
  return m ? decodeURIComponent(m[1]!) : undefined;
}

/** Each passage as a plain-text upload, titled by its article. */
export function passageFiles(corpus: Passage[]): UploadedFile[] {
  return corpus.map((p) =>
    UploadedFile.fromPartial({
      filename: `${p.id}.txt`,
      content: Buffer.from(p.text, "utf8"),
      contentType: "text/plain",
      title: p.title,
      sourceUri: passageUri(p.id),
      metadata: { passage_id: p.id },
    }),
  );
}

export interface RetrievalFigures {
  questions: number;
  recall_at_1: number;
  recall_at_5: number;
  recall_at_10: number;
  mrr_at_10: number;
}

/** `ranked[i]` is the list of passage ids returned for question i, best first (duplicates ignored). */
export function retrievalFigures(ranked: string[][], gold: string[][]): RetrievalFigures {
  let r1 = 0;
  let r5 = 0;
  let r10 = 0;
  let mrr = 0;
  for (const [i, list] of ranked.entries()) {
    const distinct = [...new Set(list)];
    const rank = distinct.findIndex((id) => gold[i]!.includes(id));
    if (rank === 0) r1++;
    if (rank >= 0 && rank < 5) r5++;
    if (rank >= 0 && rank < 10) {
      r10++;
      mrr += 1 / (rank + 1);
    }
  }
  const n = ranked.length || 1;
  const round = (x: number) => Math.round((x / n) * 1000) / 1000;
  return { questions: ranked.length, recall_at_1: round(r1), recall_at_5: round(r5), recall_at_10: round(r10), mrr_at_10: round(mrr) };
}

/** SQuAD's answer normalisation: lower case, no punctuation, no articles, single spaces. */
export function normaliseAnswer(s: string): string {
  return s
    .toLowerCase()
    .replace(/[\p{P}\p{S}]/gu, " ")
    .replace(/\b(a|an|the)\b/g, " ")
    .replace(/\s+/g, " ")
    .trim();
}

export function containsAnswer(answer: string, golds: string[]): boolean {
  const text = ` ${normaliseAnswer(answer)} `;
  return golds.some((g) => {
    const n = normaliseAnswer(g);
    return n !== "" && text.includes(` ${n} `);
  });
}
