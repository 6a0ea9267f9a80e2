/**
 * The product's figures on the embedded defaults, over gRPC against the real stack (every service a
 * process): ingestion throughput, ask latency and throughput at concurrency 1, 8 and 32, and retrieval
 * and answer quality.
 *   make bench                      all of it, on the shared SQuAD v1.1 dev set
 *   make bench DATASET=<folder>     ingestion + quality on your own data (corpus.jsonl, queries.jsonl)
 * Env: BENCH_QUESTIONS (quality sample, default 1000), BENCH_ASKS (asks per latency row, default 200).
 */
process.env.LOG_LEVEL ??= "error";
import { resolve } from "node:path";
import { IngestionServiceClient } from "#gen/rag/v1/ingestion.js";
import { AskRequest, QueryServiceClient } from "#gen/rag/v1/query.js";
import { log } from "#mesh/logger.js";
import { ingestFiles } from "../cli/ingest-jobs.js";
import { loadDataset, passageFiles, spreadSample, SQUAD_DIR } from "#testing/eval.js";
import { measureQuality } from "#testing/quality.js";
import { startTestStack } from "#testing/stack.js";
import { measure, record, type LatencyFigures } from "./stats.js";
import { testRuntime } from "#testing/runtime.js";

log.level = "error";
const custom = process.env.DATASET ? resolve(process.env.DATASET) : undefined;
const datasetDir = custom ?? SQUAD_DIR;
const QUESTIONS = Number(process.env.BENCH_QUESTIONS ?? 1000);
const ASKS = Number(process.env.BENCH_ASKS ?? 200);

const { corpus, questions } = loadDataset(datasetDir);
console.log(`dataset ${datasetDir}: ${corpus.length} passages, ${questions.length} questions`);
const env = await startTestStack();
const meta = { "x-tenant-id": "bench" };
const ingestion = testRuntime({ discovery: env.discovery }).connect(IngestionServiceClient, "ingestion", { metadata: meta, deadlineMs: 3_600_000 });
const query = testRuntime({ discovery: env.discovery }).connect(QueryServiceClient, "query", { metadata: meta, deadlineMs: 120_000 });
try {
  const t0 = performance.now();
  const jobs = await ingestFiles(ingestion, passageFiles(corpus), { displayName: "bench" }, () => undefined);
  const seconds = (performance.now() - t0) / 1000;
  const chunks = jobs.reduce((n, j) => n + Number(j.progress?.chunksIndexed ?? 0), 0);
  const failed = jobs.reduce((n, j) => n + Number(j.progress?.itemsFailed ?? 0), 0);
  const ingest = { documents: corpus.length, chunks, failed, seconds: Math.round(seconds * 10) / 10, documents_per_s: Math.round(corpus.length / seconds), chunks_per_s: Math.round(chunks / seconds) };
  console.log(`ingestion: ${ingest.documents} documents (${chunks} chunks, ${failed} failed) in ${ingest.seconds} s = ${ingest.documents_per_s} documents/s, ${ingest.chunks_per_s} chunks/s`);

  const latency: Record<string, LatencyFigures> = {};
  if (!custom) {
    // Distinct questions and no answer cache: every ask does the full embed → retrieve → generate path.
    const pool = spreadSample(questions, Math.max(ASKS, 32));
    let n = 0;
    const ask = () => query.ask(AskRequest.fromPartial({ question: pool[n++ % pool.length]!.question, topK: 5, options: { bypassCache: true } }));
    await measure(ask, 20, 4); // warm-up
    console.log("asks (embed + hybrid retrieve + extractive answer), cache bypassed:");
    console.log("concurrency  p50 ms  p95 ms  p99 ms  asks/s");
    for (const c of [1, 8, 32]) {
      const f = (latency[`c${c}`] = await measure(ask, ASKS, c));
      console.log(`${String(c).padStart(11)}${f.p50_ms.toFixed(1).padStart(8)}${f.p95_ms.toFixed(1).padStart(8)}${f.p99_ms.toFixed(1).padStart(8)}${String(f.throughput_per_s).padStart(8)}`);
    }
  }

  const sample = spreadSample(questions, QUESTIONS);
  const quality = await measureQuality(query, sample, { concurrency: 8, topK: 10 });
  console.log(`quality on ${sample.length} questions (top 10 sources): recall@1 ${quality.recall_at_1}  recall@5 ${quality.recall_at_5}  recall@10 ${quality.recall_at_10}  MRR@10 ${quality.mrr_at_10}  answer contains gold ${quality.answer_contains}`);
  const file = record(custom ? `rag_custom_dataset` : "rag", { dataset: datasetDir, ingestion: ingest, ask_latency: latency, quality });
  console.log(`written to ${file}`);
} finally {
  ingestion.close();
  query.close();
  await env.stop();
}
