/**
 * Are asks served concurrently end to end? The query service (a real process) in front of fake
 * embeddings and retrieval and a generator that takes 300 ms per answer: ten asks at once should take
 * about 300 ms, not ten times that.
 *   node --import tsx bench/ask-concurrency.bench.ts
 */
process.env.LOG_LEVEL ??= "error";
import { AskRequest, QueryServiceClient } from "#gen/rag/v1/query.js";
import { log } from "#mesh/logger.js";
import { startServiceProcess } from "#testing/service-process.js";
import { fakeAnswer } from "#testing/fakes/generation.js";
import { startFakes } from "#testing/fakes/set.js";
import { record } from "./stats.js";
import { runtime } from "#testing/runtime.js";

log.level = "error";
const GENERATE_MS = 300;
const ASKS = 10;

const fakes = await startFakes("embeddings", "retrieval", "generation");
let inFlight = 0;
let maxInFlight = 0;
fakes.generation.behaviour.generate = async (req) => {
  maxInFlight = Math.max(maxInFlight, ++inFlight);
  await new Promise((resolve) => setTimeout(resolve, GENERATE_MS));
  inFlight--;
  return fakeAnswer(req);
};
const service = await startServiceProcess("query", { RAG_ENDPOINTS: fakes.endpoints });
const query = runtime.connect(QueryServiceClient, "query", { target: service.address, metadata: { "x-tenant-id": "bench" } });
// Distinct questions and no cache, so every ask reaches the generator.
const ask = (i: number) => query.ask(AskRequest.fromPartial({ question: `How many days of leave, case ${i}?`, options: { bypassCache: true } }));
try {
  await ask(-1); // warm-up: connections, JIT
  const t1 = performance.now();
  await ask(-2);
  const one = performance.now() - t1;
  const times: number[] = [];
  for (let round = 0; round < 5; round++) {
    maxInFlight = 0;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: ASKS }, (_, i) => ask(round * ASKS + i)));
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)]!;
  console.log(`one ask with a ${GENERATE_MS} ms generator: ${one.toFixed(0)} ms`);
  console.log(`${ASKS} concurrent asks: median ${median.toFixed(0)} ms over 5 rounds (serial would be ~${(ASKS * one).toFixed(0)} ms); generator saw ${maxInFlight} in flight at once`);
  console.log(`written to ${record("ask_concurrency", { generate_ms: GENERATE_MS, asks: ASKS, one_ask_ms: Math.round(one), concurrent_median_ms: Math.round(median), rounds_ms: times.map(Math.round), max_in_flight: maxInFlight })}`);
} finally {
  query.close();
  await service.stop();
  await fakes.stop();
}
