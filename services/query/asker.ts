import { performance } from "node:perf_hooks";
import { status } from "@grpc/grpc-js";
import { EmbeddingInputType, EmbedRequest } from "#gen/rag/v1/embeddings.js";
import { GenerateRequest, GenerateStreamRequest, type Citation, type ContextPassage, type GenerationSummary } from "#gen/rag/v1/generation.js";
import { AskResponse, type AskSource, type AskStreamResponse } from "#gen/rag/v1/query.js";
import { SearchRequest } from "#gen/rag/v1/retrieval.js";
import { RpcError } from "#mesh/errors.js";
import { log } from "#mesh/logger.js";
import type { AnswerCache } from "./answer-cache.js";
import { calling, dependencyFailure, type Dependencies } from "./dependencies.js";
import { needsEmbedding, type AskPlan } from "./plan.js";
import { StageClock } from "./stage-clock.js";

const SNIPPET_CHARS = 300;

/** What retrieval found, in the two shapes it is handed on in: for the user and for the generator. */
interface Retrieved {
  sources: AskSource[];
  passages: ContextPassage[];
  /** The collection version the search saw; the answer is cached under it. */
  collectionVersion: string;
}

/**
 * The RAG conversation: answer cache, then embed the question, retrieve passages, generate a cited answer.
 * Stateless apart from the shared cache, so any number of asks run at once: every stage is an awaited
 * gRPC call on multiplexed channels, with no lock, pool or queue in the path.
 */
export class Asker {
  constructor(
    private readonly deps: Dependencies,
    private readonly cache: AnswerCache,
    private readonly opts: { embeddingModel: string },
  ) {}

  async ask(tenant: string, plan: AskPlan, clock = new StageClock()): Promise<AskResponse> {
    const cached = await this.fromCache(tenant, plan, clock);
    if (cached) return cached;
    const retrieved = await this.retrieve(plan, clock);
    const generated = await clock.time("generateMs", () =>
      calling("generation", () =>
        this.deps.generation.generate(GenerateRequest.fromPartial({ question: plan.question, passages: retrieved.passages, options: plan.generation })),
      ),
    );
    const response = AskResponse.fromPartial({
      answer: generated.answer,
      citations: generated.citations,
      sources: retrieved.sources,
      answered: generated.answered,
      cached: false,
      model: generated.model,
      finishReason: generated.finishReason,
      collection: plan.collection,
    });
    return this.finish(tenant, plan, retrieved, response, clock);
  }

  /** Events in the contract's order: sources, answer deltas as generated, citations, timings, done. */
  async *askStream(tenant: string, plan: AskPlan, clock = new StageClock()): AsyncGenerator<AskStreamResponse> {
    const cached = await this.fromCache(tenant, plan, clock);
    if (cached) {
      // A cached answer streams the same way, its text as one delta.
      yield { event: { $case: "sources", value: { sources: cached.sources } } };
      if (cached.answer !== "") yield { event: { $case: "answerDelta", value: cached.answer } };
      yield* closingEvents(cached);
      return;
    }
    const retrieved = await this.retrieve(plan, clock);
    yield { event: { $case: "sources", value: { sources: retrieved.sources } } };

    let answer = "";
    // Held back until the text is complete: the contract puts every citation after the last delta.
    const citations: Citation[] = [];
    let summary: GenerationSummary | undefined;
    const started = performance.now();
    try {
      const stream = this.deps.generation.generateStream(
        GenerateStreamRequest.fromPartial({ question: plan.question, passages: retrieved.passages, options: plan.generation }),
      );
      for await (const { event } of stream) {
        if (event?.$case === "delta") {
          answer += event.value;
          yield { event: { $case: "answerDelta", value: event.value } };
        } else if (event?.$case === "citation") citations.push(event.value);
        else if (event?.$case === "summary") summary = event.value;
      }
    } catch (err) {
      throw dependencyFailure("generation", err);
    } finally {
      clock.add("generateMs", performance.now() - started);
    }
    if (!summary) throw new RpcError(status.INTERNAL, "generation failed: its stream ended without the closing summary", { dependency: "generation" });

    const response = AskResponse.fromPartial({
      answer,
      citations,
      sources: retrieved.sources,
      answered: summary.answered,
      cached: false,
      model: summary.model,
      finishReason: summary.finishReason,
      collection: plan.collection,
    });
    yield* closingEvents(await this.finish(tenant, plan, retrieved, response, clock));
  }

  private async fromCache(tenant: string, plan: AskPlan, clock: StageClock): Promise<AskResponse | undefined> {
    if (plan.bypassCache) return undefined;
    const { hit } = await clock.time("cacheMs", () => this.cache.lookup(tenant, plan));
    if (!hit) return undefined;
    const response = { ...hit, cached: true, timings: clock.timings() };
    logAsk(response);
    return response;
  }

  private async retrieve(plan: AskPlan, clock: StageClock): Promise<Retrieved> {
    const vector = needsEmbedding(plan) ? await clock.time("embedMs", () => this.embed(plan.question)) : [];
    const found = await clock.time("retrieveMs", () =>
      calling("retrieval", () =>
        this.deps.retrieval.search(
          SearchRequest.fromPartial({ collection: plan.collection, query: plan.question, vector, topK: plan.topK, mode: plan.mode, filter: plan.filter }),
        ),
      ),
    );
    const points = found.hits.flatMap((hit) => (hit.point ? [{ point: hit.point, score: hit.score }] : []));
    return {
      sources: points.map(({ point, score }, i) => ({
        number: i + 1,
        documentId: point.documentId,
        chunkId: point.chunkId,
        title: point.title,
        sourceUri: point.sourceUri,
        snippet: [...point.text].slice(0, SNIPPET_CHARS).join("").trim(),
        score,
      })),
      passages: points.map(({ point }, i) => ({
        number: i + 1,
        chunkId: point.chunkId,
        documentId: point.documentId,
        title: point.title,
        sourceUri: point.sourceUri,
        text: point.text,
      })),
      collectionVersion: found.collectionVersion,
    };
  }

  private async embed(question: string): Promise<number[]> {
    const embedded = await calling("embeddings", () =>
      this.deps.embeddings.embed(EmbedRequest.fromPartial({ texts: [question], model: this.opts.embeddingModel, inputType: EmbeddingInputType.EMBEDDING_INPUT_TYPE_QUERY })),
    );
    const vector = embedded.vectors[0]?.values;
    if (!vector || vector.length === 0) throw new RpcError(status.INTERNAL, "embeddings failed: no vector came back for the question", { dependency: "embeddings" });
    return vector;
  }

  private async finish(tenant: string, plan: AskPlan, retrieved: Retrieved, response: AskResponse, clock: StageClock): Promise<AskResponse> {
    if (!plan.bypassCache) await this.cache.store(tenant, plan, retrieved.collectionVersion, response);
    const done = { ...response, timings: clock.timings() };
    logAsk(done);
    return done;
  }
}

function* closingEvents(response: AskResponse): Generator<AskStreamResponse> {
  for (const citation of response.citations) yield { event: { $case: "citation", value: citation } };
  yield { event: { $case: "timings", value: response.timings ?? { cacheMs: 0, embedMs: 0, retrieveMs: 0, generateMs: 0, totalMs: 0 } } };
  const { answered, cached, model, finishReason, collection } = response;
  yield { event: { $case: "done", value: { answered, cached, model, finishReason, collection } } };
}

/** One line per answered ask, without the question or the answer (user and document text stay out of logs). */
function logAsk(response: AskResponse): void {
  const t = response.timings;
  log.info("ask answered", {
    collection: response.collection,
    cached: response.cached,
    answered: response.answered,
    sources: response.sources.length,
    cache_ms: round(t?.cacheMs),
    embed_ms: round(t?.embedMs),
    retrieve_ms: round(t?.retrieveMs),
    generate_ms: round(t?.generateMs),
    total_ms: round(t?.totalMs),
  });
}

const round = (ms = 0) => Math.round(ms * 10) / 10;
