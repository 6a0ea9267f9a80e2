/**
 * Retrieval quality of the embedded index on SQuAD v1.1 dev (2,067 passages): recall@1/5/10 and MRR@10
 * for SPARSE (LanceDB BM25), DENSE (the local hashed embedder) and HYBRID (both, fused by RRF), plus the
 * settings tried while tuning. Figures, not pass/fail.
 *
 * Two fixed, disjoint, spread-out samples of questions: settings are chosen on the "tune" sample and
 * reported on the "eval" sample, so the defaults are not fitted to the questions they are judged on.
 *
 * Run: node --import tsx bench/retrieval-quality.ts [--quick]   (--quick: main table only)
 */
process.env.LOG_LEVEL ??= "error";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { FtsOptions } from "@lancedb/lancedb";
import { log } from "#mesh/logger.js";
import type { FusionParams, IndexPoint, Retriever, SearchQuery, VectorBackend } from "../services/retrieval/backend.js";
import { fuse } from "../services/retrieval/fusion.js";
import { documentVector, queryVector } from "../services/retrieval/qdrant/sparse.js";
import { DEFAULT_FTS, LanceBackend } from "../services/retrieval/lancedb/backend.js";
import { DEFAULT_CANDIDATES, DEFAULT_FUSION } from "../services/retrieval/config.js";
import { embed } from "../services/embeddings/providers/local.js";
import { record } from "./stats.js";

log.level = process.env.LOG_LEVEL;
const DATASET = process.env.SQUAD_DIR ?? path.resolve(import.meta.dirname, "../../shared/datasets/squad-v1.1-dev");
const SAMPLE = 500;
const quick = process.argv.includes("--quick");

interface Passage { id: string; title: string; text: string }
interface Question { id: string; question: string; gold_ids: string[] }

const readJsonl = <T>(file: string): T[] => readFileSync(path.join(DATASET, file), "utf8").trim().split("\n").map((l) => JSON.parse(l) as T);
const corpus = readJsonl<Passage>("corpus.jsonl");
const questions = readJsonl<Question>("queries.jsonl");
// Every (N/SAMPLE)-th question from two different offsets: spread over all 48 articles, never the same question twice.
const spread = (offset: number) => Array.from({ length: SAMPLE }, (_, i) => questions[Math.floor(((i + offset) * questions.length) / SAMPLE)]!);
const evalSample = spread(0);
const tuneSample = spread(0.5);

const passageVectors = embed(corpus.map((p) => p.text));
const questionVectors = new Map<string, number[]>();
for (const q of [...evalSample, ...tuneSample]) questionVectors.set(q.id, Array.from(embed([q.question])[0]!));

interface Figures { recall_at_1: number; recall_at_5: number; recall_at_10: number; mrr_at_10: number }

async function indexCorpus(fts: Partial<FtsOptions>): Promise<{ backend: VectorBackend; dispose: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), "retrieval-quality-"));
  const backend = await LanceBackend.open({ dir, fts });
  const scope = { tenant: "bench", collection: "squad" };
  const points: IndexPoint[] = corpus.map((p, i) => ({
    chunkId: p.id, documentId: p.title, vector: Array.from(passageVectors[i]!), text: p.text, title: p.title,
    sourceUri: "", headingPath: [], chunkIndex: 0, tags: [], metadata: {}, documentTimeMs: undefined,
  }));
  for (let i = 0; i < points.length; i += 500) await backend.upsert(scope, points.slice(i, i + 500));
  return { backend, dispose: async () => { await backend.close(); await rm(dir, { recursive: true, force: true }); } };
}

async function measure(backend: VectorBackend, sample: Question[], retrievers: Retriever[], fusion: FusionParams, candidates: number): Promise<Figures> {
  const ranks: number[] = [];
  for (const q of sample) {
    const query: SearchQuery = {
      retrievers,
      vector: retrievers.includes("dense") ? questionVectors.get(q.id) : undefined,
      text: retrievers.includes("sparse") ? q.question : undefined,
      filter: { documentIds: [], tags: [], metadata: {}, numericRanges: [], timeRanges: [] },
      topK: 10, candidates, fusion, includeVectors: false,
    };
    const { hits } = await backend.search({ tenant: "bench", collection: "squad" }, query);
    ranks.push(hits.findIndex((h) => q.gold_ids.includes(h.point.chunkId)) + 1);
  }
  return figures(ranks);
}

/** From the 1-based rank of each question's gold passage in its top 10 (0: not there). */
function figures(ranks: number[]): Figures {
  const share = (x: number) => Math.round((x / ranks.length) * 1000) / 1000;
  return {
    recall_at_1: share(ranks.filter((r) => r === 1).length),
    recall_at_5: share(ranks.filter((r) => r >= 1 && r <= 5).length),
    recall_at_10: share(ranks.filter((r) => r >= 1).length),
    mrr_at_10: share(ranks.reduce((sum, r) => sum + (r >= 1 ? 1 / r : 0), 0)),
  };
}

const row = (label: string, f: Figures) => `| ${label} | ${f.recall_at_1.toFixed(3)} | ${f.recall_at_5.toFixed(3)} | ${f.recall_at_10.toFixed(3)} | ${f.mrr_at_10.toFixed(3)} |`;
const header = "| setting | recall@1 | recall@5 | recall@10 | MRR@10 |\n|---|---:|---:|---:|---:|";
const results: Record<string, unknown> = { dataset: "squad-v1.1-dev", passages: corpus.length, questions_per_sample: SAMPLE, default_fusion: DEFAULT_FUSION, default_candidates: DEFAULT_CANDIDATES };

const main = await indexCorpus(DEFAULT_FTS);
try {
  console.log(`SQuAD v1.1 dev: ${corpus.length} passages, ${SAMPLE} eval questions (defaults: candidates ${DEFAULT_CANDIDATES}, RRF k ${DEFAULT_FUSION.k}, weights dense ${DEFAULT_FUSION.denseWeight} / sparse ${DEFAULT_FUSION.sparseWeight})\n`);
  const table: Record<string, Figures> = {
    SPARSE: await measure(main.backend, evalSample, ["sparse"], DEFAULT_FUSION, DEFAULT_CANDIDATES),
    DENSE: await measure(main.backend, evalSample, ["dense"], DEFAULT_FUSION, DEFAULT_CANDIDATES),
    HYBRID: await measure(main.backend, evalSample, ["dense", "sparse"], DEFAULT_FUSION, DEFAULT_CANDIDATES),
  };
  console.log(header);
  for (const [mode, f] of Object.entries(table)) console.log(row(mode, f));
  results.eval = table;

  if (!quick) {
    // The grid re-fuses each question's two candidate lists (fetched once, 100 deep, through the same
    // backend) with the same fuse() the backend uses: identical rankings to a search per setting, far faster.
    const lists = async (sample: Question[]) =>
      Promise.all(sample.map(async (q) => {
        const side = async (r: Retriever) => (await main.backend.search({ tenant: "bench", collection: "squad" }, {
          retrievers: [r], vector: questionVectors.get(q.id), text: q.question, topK: 100, candidates: 100, fusion: DEFAULT_FUSION,
          filter: { documentIds: [], tags: [], metadata: {}, numericRanges: [], timeRanges: [] }, includeVectors: false,
        })).hits.map((h) => ({ id: h.point.chunkId, score: h.score, item: h.point.chunkId }));
        return { gold: q.gold_ids, dense: await side("dense"), sparse: await side("sparse") };
      }));
    const tuneLists = await lists(tuneSample);
    const evalLists = await lists(evalSample);
    const refuse = (all: Awaited<ReturnType<typeof lists>>, fusion: FusionParams, candidates: number) =>
      figures(all.map((l) => fuse(l.dense.slice(0, candidates), l.sparse.slice(0, candidates), fusion, 10).findIndex((f) => l.gold.includes(f.id)) + 1));
    const grid: { setting: string; tune: Figures; eval: Figures }[] = [];
    const tryFusion = (setting: string, fusion: FusionParams, candidates: number) =>
      grid.push({ setting, tune: refuse(tuneLists, fusion, candidates), eval: refuse(evalLists, fusion, candidates) });
    const equal = (k: number) => ({ k, denseWeight: 1, sparseWeight: 1 });
    for (const candidates of [10, 20, 50, 100]) tryFusion(`candidates ${candidates}, k 60, dense 1 : sparse 1`, equal(60), candidates);
    for (const k of [1, 2, 5, 10, 20]) tryFusion(`candidates 50, k ${k}, dense 1 : sparse 1`, equal(k), 50);
    // Weight as Qdrant defines it: a weight w divides the rank, so w > 1 flattens a side's ranking; to favour
    // BM25 the dense side gets w < 1 instead.
    for (const k of [60, 1, 2, 5]) {
      for (const wd of [0.5, 0.2, 0.1, 0.05]) tryFusion(`candidates 50, k ${k}, dense ${wd} : sparse 1`, { k, denseWeight: wd, sparseWeight: 1 }, 50);
    }
    for (const ws of [2, 4]) tryFusion(`candidates 50, k 60, dense 1 : sparse ${ws}`, { k: 60, denseWeight: 1, sparseWeight: ws }, 50);
    for (const candidates of [10, 20, 100]) tryFusion(`candidates ${candidates}, k 2, dense 0.1 : sparse 1`, { k: 2, denseWeight: 0.1, sparseWeight: 1 }, candidates);
    console.log("\nHybrid settings (tune sample | eval sample):\n| setting | tune R@1 | tune R@5 | tune MRR@10 | eval R@1 | eval R@5 | eval R@10 | eval MRR@10 |\n|---|---:|---:|---:|---:|---:|---:|---:|");
    for (const g of grid) console.log(`| ${g.setting} | ${g.tune.recall_at_1.toFixed(3)} | ${g.tune.recall_at_5.toFixed(3)} | ${g.tune.mrr_at_10.toFixed(3)} | ${g.eval.recall_at_1.toFixed(3)} | ${g.eval.recall_at_5.toFixed(3)} | ${g.eval.recall_at_10.toFixed(3)} | ${g.eval.mrr_at_10.toFixed(3)} |`);
    results.hybrid_grid = grid;
  }
} finally {
  await main.dispose();
}

if (!quick) {
  // Full-text analyser variants need an index of their own each.
  const variants: [string, Partial<FtsOptions>][] = [
    ["no stemming", { ...DEFAULT_FTS, stem: false }],
    ["no stop-word removal", { ...DEFAULT_FTS, removeStopWords: false }],
    ["no stemming, no stop words, no folding", { ...DEFAULT_FTS, stem: false, removeStopWords: false, asciiFolding: false }],
  ];
  const fts: Record<string, Figures> = {};
  console.log(`\nSPARSE by full-text analyser (eval sample; default: ${JSON.stringify(DEFAULT_FTS)}):\n${header}`);
  console.log(row("default (English stemming, stop words, ASCII folding)", (results.eval as Record<string, Figures>).SPARSE!));
  for (const [label, options] of variants) {
    const idx = await indexCorpus(options);
    try {
      fts[label] = await measure(idx.backend, evalSample, ["sparse"], DEFAULT_FUSION, DEFAULT_CANDIDATES);
      console.log(row(label, fts[label]!));
    } finally {
      await idx.dispose();
    }
  }
  results.sparse_analysers = fts;
}

if (!quick) {
  // The Qdrant backend's BM25 cannot run here (no Qdrant server), but its ranking is fully defined: the
  // dot product of our query and document sparse vectors after Qdrant's idf modifier. Computed exactly
  // that way over the same corpus, as a check of the client-side encoding.
  const docs = corpus.map((p) => documentVector(p.text));
  const postings = new Map<number, { doc: number; value: number }[]>();
  docs.forEach((d, doc) => d.indices.forEach((term, j) => {
    let list = postings.get(term);
    if (!list) postings.set(term, (list = []));
    list.push({ doc, value: d.values[j]! });
  }));
  const idf = (term: number) => {
    const n = postings.get(term)?.length ?? 0;
    return Math.log(1 + (corpus.length - n + 0.5) / (n + 0.5));
  };
  const ranks = evalSample.map((q) => {
    const scores = new Map<number, number>();
    const query = queryVector(q.question);
    for (const term of query.indices) for (const p of postings.get(term) ?? []) scores.set(p.doc, (scores.get(p.doc) ?? 0) + idf(term) * p.value);
    const top = [...scores.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10).map(([doc]) => corpus[doc]!.id);
    return top.findIndex((id) => q.gold_ids.includes(id)) + 1;
  });
  const qdrantSparse = figures(ranks);
  console.log(`\nSPARSE as the Qdrant backend ranks it (client-side BM25 terms, idf modifier), eval sample:\n${header}\n${row("qdrant sparse (simulated)", qdrantSparse)}`);
  results.qdrant_sparse_simulated = qdrantSparse;
}

console.log(`\nwritten to ${record("retrieval_quality", results)}`);
