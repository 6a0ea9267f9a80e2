/**
 * Figures for the local embedder, never pass/fail:
 *   - speed: texts/s over 1,000 SQuAD passages (~120 words each) and over their questions;
 *   - quality: dense retrieval of each SQuAD v1.1 dev question's passage among all 2,067 passages
 *     (recall@1/5/20 and MRR), at the dimensions given as arguments (default 512).
 *
 *   node --import tsx services/embeddings/local-embedder.bench.ts [dimensions ...]
 *
 * Reads ../shared/datasets/squad-v1.1-dev (or $SQUAD_DIR) in place.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { embed } from "./providers/local.js";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const SQUAD = process.env.SQUAD_DIR ?? path.join(REPO, "../shared/datasets/squad-v1.1-dev");

const readJsonl = <T>(file: string): T[] =>
  readFileSync(path.join(SQUAD, file), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as T);
const passages = readJsonl<{ id: string; text: string }>("corpus.jsonl");
const questions = readJsonl<{ question: string; gold_ids: string[] }>("queries.jsonl");

function textsPerSecond(texts: string[], runs = 5): number {
  embed(texts.slice(0, 50)); // warm up the JIT and the stem memo
  let best = Infinity;
  for (let r = 0; r < runs; r++) {
    const started = process.hrtime.bigint();
    embed(texts);
    best = Math.min(best, Number(process.hrtime.bigint() - started) / 1e9);
  }
  return texts.length / best;
}

const sample = passages.slice(0, 1000).map((p) => p.text);
const words = sample.reduce((sum, t) => sum + t.split(/\s+/).length, 0) / sample.length;
console.log(`speed (best of 5 runs, one thread, ${SQUAD})`);
console.log(`  1,000 passages, ${words.toFixed(0)} words on average: ${Math.round(textsPerSecond(sample)).toLocaleString("en")} texts/s`);
const shortTexts = questions.slice(0, 1000).map((q) => q.question);
console.log(`  1,000 questions: ${Math.round(textsPerSecond(shortTexts)).toLocaleString("en")} texts/s`);

const position = new Map(passages.map((p, i) => [p.id, i]));
for (const dimensions of process.argv.slice(2).map(Number).concat(process.argv.length > 2 ? [] : [512])) {
  const passageVectors = embed(passages.map((p) => p.text), { dimensions });
  const questionVectors = embed(questions.map((q) => q.question), { dimensions });
  let r1 = 0;
  let r5 = 0;
  let r20 = 0;
  let mrr = 0;
  questionVectors.forEach((q, qi) => {
    const gold = position.get(questions[qi]!.gold_ids[0]!)!;
    const score = (p: Float32Array) => {
      let s = 0;
      for (let i = 0; i < dimensions; i++) s += q[i]! * p[i]!;
      return s;
    };
    const goldScore = score(passageVectors[gold]!);
    let rank = 1;
    passageVectors.forEach((p, pi) => {
      if (pi !== gold && score(p) > goldScore) rank++;
    });
    if (rank <= 1) r1++;
    if (rank <= 5) r5++;
    if (rank <= 20) r20++;
    mrr += 1 / rank;
  });
  const n = questions.length;
  const f = (x: number) => (x / n).toFixed(3);
  console.log(`SQuAD v1.1 dev, ${n} questions over ${passages.length} passages, ${dimensions} dimensions: R@1 ${f(r1)} R@5 ${f(r5)} R@20 ${f(r20)} MRR ${f(mrr)}`);
}
