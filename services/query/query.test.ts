import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { status, type ServiceError } from "@grpc/grpc-js";
import { EmbeddingInputType } from "#gen/rag/v1/embeddings.js";
import { FinishReason } from "#gen/rag/v1/generation.js";
import {
  AskRequest,
  AskState,
  AskStreamRequest,
  SubmitAskRequest,
  type AskStreamResponse,
  type DeepPartial,
} from "#gen/rag/v1/query.js";
import { Filter, SearchMode } from "#gen/rag/v1/retrieval.js";
import { errorDetails, FailedPreconditionError, UnavailableError, UnimplementedError } from "#mesh/errors.js";
import { log } from "#mesh/logger.js";
import { startServiceProcess, type ServiceProcess } from "#testing/service-process.js";
import { expectCode, gate, queryClients, rejection, settled } from "#testing/query.js";
import { fakeVector } from "#testing/fakes/embeddings.js";
import { fakeAnswer, fakeAnswerStream } from "#testing/fakes/generation.js";
import { CORPUS } from "#testing/fakes/retrieval.js";
import { startFakes, type FakeSet } from "#testing/fakes/set.js";

// The fakes run in this process and log every failure they are told to produce; the assertions say what matters.
log.silent = true;

let fakes: FakeSet<"embeddings" | "retrieval" | "generation">;
let service: ServiceProcess;
const clients = queryClients(() => service.address);
const as = clients.as;

/** Every event of a stream, and the error that ended it, if any. */
async function drain(stream: AsyncIterable<AskStreamResponse>): Promise<{ events: AskStreamResponse[]; error?: ServiceError }> {
  const events: AskStreamResponse[] = [];
  try {
    for await (const event of stream) events.push(event);
  } catch (err) {
    return { events, error: err as ServiceError };
  }
  return { events };
}

const ask = (p: DeepPartial<AskRequest>) => AskRequest.fromPartial({ question: "How many days of leave do I get?", ...p });

before(async () => {
  fakes = await startFakes("embeddings", "retrieval", "generation");
  // One worker for submitted asks, so a test can see an ask wait in PENDING behind another.
  service = await startServiceProcess("query", { RAG_ENDPOINTS: fakes.endpoints, ASK_WORKERS: "1" });
});

after(async () => {
  clients.closeAll();
  let code: number | null | undefined;
  try {
    code = await service?.stop();
  } finally {
    await fakes?.stop();
  }
  assert.equal(code, 0, "query exits cleanly on SIGTERM");
});

beforeEach(() => fakes.reset());

describe("Ask", () => {
  test("embeds, retrieves and generates, and answers with citations, sources and stage timings", async () => {
    const filter = Filter.fromPartial({
      documentIds: ["doc-leave", "doc-handbook"],
      tags: ["hr"],
      metadata: { team: "people" },
      numericRanges: [{ key: "year", gte: 2020 }],
      timeRanges: [{ field: "document_time", startTime: new Date("2024-01-01T00:00:00Z") }],
    });
    const question = "How many days of leave do I get?";
    const res = await as("acme").ask(ask({ question, collection: "handbook", topK: 3, filter, options: { model: "big", maxTokens: 300, template: "concise", provider: "openai" } }));

    assert.equal(res.answer, "Everyone gets 30 days of paid leave a year [1].");
    assert.equal(res.answered, true);
    assert.equal(res.cached, false);
    assert.equal(res.collection, "handbook");
    assert.equal(res.model, "big");
    assert.equal(res.finishReason, FinishReason.FINISH_REASON_STOP);
    assert.deepEqual(res.citations.map((c) => [c.marker, c.chunkId, c.documentId]), [[1, "chunk-leave-0", "doc-leave"]]);
    assert.deepEqual(
      res.sources.map((s) => [s.number, s.documentId, s.chunkId, s.title, s.sourceUri, s.score]),
      CORPUS.map((h, i) => [i + 1, h.point!.documentId, h.point!.chunkId, h.point!.title, h.point!.sourceUri, h.score]),
    );
    assert.equal(res.sources[0]!.snippet, CORPUS[0]!.point!.text, "a short passage is its own snippet");
    assert.equal(res.sources[1]!.snippet.length <= 300, true, "snippets are cut to 300 characters");
    assert.ok(CORPUS[1]!.point!.text.startsWith(res.sources[1]!.snippet));
    const t = res.timings!;
    for (const stage of ["cacheMs", "embedMs", "retrieveMs", "generateMs", "totalMs"] as const) assert.ok(t[stage] > 0, `${stage} is reported`);
    assert.ok(t.totalMs >= t.embedMs + t.retrieveMs + t.generateMs, "total covers the stages");

    // What each dependency was asked, and for whom.
    assert.equal(fakes.embeddings.calls.length, 1);
    assert.deepEqual(fakes.embeddings.calls[0], { request: { texts: [question], model: "", inputType: EmbeddingInputType.EMBEDDING_INPUT_TYPE_QUERY }, tenant: "acme" });
    assert.equal(fakes.retrieval.searches.length, 1);
    const search = fakes.retrieval.searches[0]!;
    assert.equal(search.tenant, "acme");
    assert.equal(search.request.collection, "handbook");
    assert.equal(search.request.query, question);
    assert.deepEqual(search.request.vector, fakeVector(question), "the question's embedding is what is searched");
    assert.equal(search.request.topK, 3, "top_k passes through");
    assert.equal(search.request.mode, SearchMode.SEARCH_MODE_HYBRID, "hybrid by default");
    assert.deepEqual(search.request.filter, filter, "the filter passes through unchanged");
    assert.deepEqual(fakes.retrieval.collectionReads.map((r) => [r.request.collection, r.tenant]), [["handbook", "acme"]]);
    assert.equal(fakes.generation.calls.length, 1);
    const gen = fakes.generation.calls[0]!;
    assert.equal(gen.tenant, "acme");
    assert.equal(gen.request.question, question);
    assert.deepEqual(gen.request.options, { provider: "openai", model: "big", maxTokens: 300, template: "concise", temperature: undefined });
    assert.deepEqual(
      gen.request.passages,
      CORPUS.map((h, i) => ({ number: i + 1, chunkId: h.point!.chunkId, documentId: h.point!.documentId, title: h.point!.title, sourceUri: h.point!.sourceUri, text: h.point!.text })),
      "the retrieved chunks are the numbered context",
    );
  });

  test("defaults: collection \"default\", top_k 5, hybrid; sparse search skips the embedding", async () => {
    const client = as("acme");
    const res = await client.ask(ask({}));
    assert.equal(res.collection, "default");
    assert.equal(fakes.retrieval.searches[0]!.request.collection, "default");
    assert.equal(fakes.retrieval.searches[0]!.request.topK, 5);
    assert.equal(fakes.generation.calls[0]!.request.options!.maxTokens, 512);
    assert.equal(fakes.generation.calls[0]!.request.options!.template, "default");

    const sparse = await client.ask(ask({ options: { searchMode: SearchMode.SEARCH_MODE_SPARSE, bypassCache: true } }));
    assert.equal(fakes.embeddings.calls.length, 1, "no embedding for a keyword-only search");
    assert.equal(fakes.retrieval.searches[1]!.request.mode, SearchMode.SEARCH_MODE_SPARSE);
    assert.deepEqual(fakes.retrieval.searches[1]!.request.vector, []);
    assert.equal(sparse.timings!.embedMs, 0, "a stage that did not run is 0");
  });

  test("no passages found: the generator is still asked and the answer says nothing was found", async () => {
    fakes.retrieval.behaviour.search = async () => ({ hits: [], mode: SearchMode.SEARCH_MODE_HYBRID, collectionVersion: "1" });
    const res = await as("acme").ask(ask({}));
    assert.equal(res.answered, false);
    assert.deepEqual(res.sources, []);
    assert.deepEqual(fakes.generation.calls[0]!.request.passages, []);
  });

  test("rejects bad input naming the field, and a call without a tenant", async () => {
    const client = as("acme");
    const invalid = async (req: DeepPartial<AskRequest>, field: string, pattern: RegExp) => {
      const err = await rejection(client.ask(ask(req)));
      expectCode(err, status.INVALID_ARGUMENT, pattern);
      assert.equal(errorDetails(err).field, field);
    };
    await invalid({ question: "" }, "question", /required/);
    await invalid({ question: "   \n " }, "question", /required/);
    await invalid({ question: "x".repeat(4001) }, "question", /4000/);
    await invalid({ topK: 51 }, "top_k", /between 1 and 50/);
    await invalid({ topK: -1 }, "top_k", /between 1 and 50/);
    await invalid({ collection: "Not A Name" }, "collection", /not a valid name/);
    await invalid({ options: { maxTokens: 5000 } }, "options.max_tokens", /4096/);
    await invalid({ options: { searchMode: 9 as SearchMode } }, "options.search_mode", /unknown/);
    const anonymous = await rejection(as(undefined).ask(ask({})));
    expectCode(anonymous, status.UNAUTHENTICATED, /tenant/);
    assert.equal(fakes.embeddings.calls.length + fakes.retrieval.searches.length + fakes.generation.calls.length, 0, "nothing is called for a bad request");
  });

  test("dependency failures keep their status and name the dependency", async () => {
    const client = as("acme");
    fakes.embeddings.behaviour.embed = async () => {
      throw new UnavailableError("embedding backend is down");
    };
    expectCode(await rejection(client.ask(ask({}))), status.UNAVAILABLE, /^embeddings is unavailable: embedding backend is down/);

    fakes.reset();
    fakes.retrieval.behaviour.search = async () => {
      throw new UnavailableError("index is rebuilding");
    };
    expectCode(await rejection(client.ask(ask({}))), status.UNAVAILABLE, /^retrieval is unavailable: index is rebuilding/);

    fakes.reset();
    fakes.generation.behaviour.generate = async () => {
      throw new UnavailableError("model overloaded");
    };
    const gen = await rejection(client.ask(ask({})));
    expectCode(gen, status.UNAVAILABLE, /^generation is unavailable: model overloaded/);
    assert.equal(errorDetails(gen).dependency, "generation");

    fakes.reset();
    fakes.generation.behaviour.generate = async () => {
      throw new FailedPreconditionError("template \"fancy\" is not configured");
    };
    expectCode(await rejection(client.ask(ask({}))), status.FAILED_PRECONDITION, /^generation: template "fancy" is not configured/);

    // A dependency that does not implement a method yet is not reported as Ask being unimplemented.
    fakes.reset();
    fakes.generation.behaviour.generate = async () => {
      throw new UnimplementedError("rag.v1.GenerationService/Generate");
    };
    expectCode(await rejection(client.ask(ask({}))), status.FAILED_PRECONDITION, /^generation cannot serve this yet: .*not implemented/);
  });

  test("asks are served concurrently end to end: 10 asks are inside the generator at once", async () => {
    const n = 10;
    let inside = 0;
    let most = 0;
    const held: (() => void)[] = [];
    fakes.generation.behaviour.generate = async (req) => {
      inside++;
      most = Math.max(most, inside);
      try {
        if (inside >= n) held.splice(0).forEach((release) => release());
        else {
          // Bounded: if the 10th never comes, this ask fails and says how many were in at once.
          await new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new FailedPreconditionError(`only ${most} of ${n} asks reached the generator together`)), 15_000);
            held.push(() => (clearTimeout(timer), resolve()));
          });
        }
        return fakeAnswer(req);
      } finally {
        inside--;
      }
    };
    const client = as("acme");
    const answers = await Promise.all(Array.from({ length: n }, (_, i) => client.ask(ask({ question: `Question number ${i}: how much leave?` }))));
    assert.equal(answers.length, n);
    for (const a of answers) assert.equal(a.answered, true);
    assert.equal(most, n);
  });

  test("a deadline from the caller bounds the whole ask", async () => {
    const stalled = gate();
    fakes.generation.behaviour.generate = async (req) => (await stalled.pass(), fakeAnswer(req));
    const err = await rejection(as("acme").ask(ask({}), { deadlineMs: 500 }));
    stalled.open();
    expectCode(err, status.DEADLINE_EXCEEDED);
  });
});

describe("answer cache", () => {
  test("a repeat is served from the cache, across spelling of case, whitespace and punctuation", async () => {
    const client = as("acme");
    const first = await client.ask(ask({ question: "What is the leave policy?" }));
    assert.equal(first.cached, false);
    const again = await client.ask(ask({ question: "  WHAT is the   leave policy?! " }));
    assert.equal(again.cached, true);
    assert.equal(again.answer, first.answer);
    assert.deepEqual(again.sources, first.sources);
    assert.deepEqual(again.citations, first.citations);
    assert.equal(again.model, first.model);
    assert.equal(fakes.generation.calls.length, 1, "the generator ran once");
    assert.equal(fakes.retrieval.searches.length, 1, "retrieval ran once");
    assert.ok(again.timings!.cacheMs > 0 && again.timings!.totalMs > 0);
    assert.equal(again.timings!.generateMs + again.timings!.embedMs + again.timings!.retrieveMs, 0, "a hit runs no other stage");
    // top_k 0 and 5 are the same request once defaults are resolved.
    assert.equal((await client.ask(ask({ question: "what is the leave policy", topK: 5 }))).cached, true);
  });

  test("options that change the answer make a different entry; bypass_cache neither reads nor writes", async () => {
    const client = as("acme");
    const q = "Who approves holidays?";
    await client.ask(ask({ question: q }));
    const variants: DeepPartial<AskRequest>[] = [
      { topK: 2 },
      { filter: Filter.fromPartial({ tags: ["hr"] }) },
      { options: { model: "other" } },
      { options: { maxTokens: 100 } },
      { options: { template: "detailed" } },
      { options: { searchMode: SearchMode.SEARCH_MODE_DENSE } },
      { collection: "handbook" },
    ];
    for (const v of variants) assert.equal((await client.ask(ask({ question: q, ...v }))).cached, false, `a miss for ${JSON.stringify(v)}`);
    for (const v of variants) assert.equal((await client.ask(ask({ question: q, ...v }))).cached, true, `then a hit for ${JSON.stringify(v)}`);
    // Set-like filter lists in another order are the same filter.
    const ordered = await client.ask(ask({ question: q, filter: Filter.fromPartial({ tags: ["a", "b"], documentIds: ["x", "y"] }) }));
    const reordered = await client.ask(ask({ question: q, filter: Filter.fromPartial({ tags: ["b", "a"], documentIds: ["y", "x", "x"] }) }));
    assert.deepEqual([ordered.cached, reordered.cached], [false, true]);

    const generated = fakes.generation.calls.length;
    const bypass = await client.ask(ask({ question: q, options: { bypassCache: true } }));
    assert.equal(bypass.cached, false);
    assert.equal(fakes.generation.calls.length, generated + 1, "bypass runs the generator");
    assert.equal(bypass.timings!.cacheMs, 0);
    const fresh = await client.ask(ask({ question: "A question only ever asked with bypass", options: { bypassCache: true } }));
    assert.equal(fresh.cached, false);
    assert.equal((await client.ask(ask({ question: "A question only ever asked with bypass" }))).cached, false, "bypass wrote nothing");
  });

  test("a write to the collection (its version changes) invalidates cached answers", async () => {
    const client = as("acme");
    const q = "How is travel reimbursed?";
    assert.equal((await client.ask(ask({ question: q }))).cached, false);
    assert.equal((await client.ask(ask({ question: q }))).cached, true);
    fakes.retrieval.bumpVersion("default");
    const after = await client.ask(ask({ question: q }));
    assert.equal(after.cached, false, "the new version is a different collection state");
    assert.equal(fakes.generation.calls.length, 2);
    assert.equal((await client.ask(ask({ question: q }))).cached, true, "and the new version's answer is cached in turn");
    assert.ok(fakes.retrieval.collectionReads.every((r) => r.tenant === "acme" && r.request.collection === "default"));
  });

  test("the cache is per tenant", async () => {
    const q = "What does the handbook say about holidays?";
    assert.equal((await as("acme").ask(ask({ question: q }))).cached, false);
    const other = await as("globex").ask(ask({ question: q }));
    assert.equal(other.cached, false, "another tenant's answer is never served");
    assert.deepEqual(fakes.retrieval.searches.map((s) => s.tenant), ["acme", "globex"]);
    assert.deepEqual(fakes.generation.calls.map((g) => g.tenant), ["acme", "globex"]);
  });

  test("when the collection version cannot be read, the cache is skipped and the ask still answered", async () => {
    const client = as("acme");
    const q = "Is the cache skipped?";
    await client.ask(ask({ question: q }));
    assert.equal((await client.ask(ask({ question: q }))).cached, true);
    fakes.retrieval.behaviour.getCollection = async () => {
      throw new UnavailableError("catalogue restarting");
    };
    const res = await client.ask(ask({ question: q }));
    assert.equal(res.cached, false, "without the version a stored answer might be stale");
    assert.equal(res.answered, true);
    assert.equal(fakes.generation.calls.length, 2);
  });

  test("a collection that does not exist yet is version 0, and is cached as such until its first write", async () => {
    const client = as("acme");
    const q = "Anything in the empty collection?";
    fakes.retrieval.behaviour.search = async () => ({ hits: [], mode: SearchMode.SEARCH_MODE_HYBRID, collectionVersion: "0" });
    assert.equal((await client.ask(ask({ question: q, collection: "brand-new" }))).cached, false);
    assert.equal((await client.ask(ask({ question: q, collection: "brand-new" }))).cached, true);
    fakes.retrieval.bumpVersion("brand-new");
    assert.equal((await client.ask(ask({ question: q, collection: "brand-new" }))).cached, false);
  });
});

describe("AskStream", () => {
  const streamReq = (p: DeepPartial<AskStreamRequest>) => AskStreamRequest.fromPartial({ question: "How many days of leave do I get?", ...p });

  function shape(events: AskStreamResponse[]): string[] {
    return events.map((e) => e.event!.$case);
  }

  test("streams sources, answer deltas as generated, citations, timings, done; a repeat streams from the cache", async () => {
    const client = as("acme");
    const { events, error } = await drain(client.askStream(streamReq({ topK: 2, filter: Filter.fromPartial({ tags: ["hr"] }) })));
    assert.equal(error, undefined);
    const kinds = shape(events);
    assert.equal(kinds[0], "sources");
    const deltas = events.filter((e) => e.event?.$case === "answerDelta").map((e) => e.event!.value as string);
    assert.ok(deltas.length > 1, "the answer arrives in pieces, as the generator streams it");
    assert.deepEqual(kinds, ["sources", ...deltas.map(() => "answerDelta"), "citation", "timings", "done"]);
    assert.equal(deltas.join(""), "Everyone gets 30 days of paid leave a year [1].");
    const first = events[0]!.event!;
    const sources = first.$case === "sources" ? first.value.sources : [];
    assert.deepEqual(sources.map((s) => s.chunkId), ["chunk-leave-0", "chunk-handbook-3"]);
    const done = events.at(-1)!.event!;
    assert.ok(done.$case === "done");
    assert.deepEqual(done.value, { answered: true, cached: false, model: "fake-model", finishReason: FinishReason.FINISH_REASON_STOP, collection: "default" });
    const timings = events.at(-2)!.event!;
    assert.ok(timings.$case === "timings" && timings.value.generateMs > 0 && timings.value.totalMs > 0);
    assert.equal(fakes.generation.calls.length, 1);
    assert.equal(fakes.retrieval.searches[0]!.request.topK, 2);
    assert.deepEqual(fakes.retrieval.searches[0]!.request.filter, Filter.fromPartial({ tags: ["hr"] }));

    // The streamed answer was cached: Ask and AskStream both find it.
    const unary = await client.ask(ask({ topK: 2, filter: Filter.fromPartial({ tags: ["hr"] }) }));
    assert.equal(unary.cached, true);
    assert.equal(unary.answer, deltas.join(""));
    const replay = await drain(client.askStream(streamReq({ topK: 2, filter: Filter.fromPartial({ tags: ["hr"] }) })));
    assert.deepEqual(shape(replay.events), ["sources", "answerDelta", "citation", "timings", "done"]);
    const replayDone = replay.events.at(-1)!.event!;
    assert.ok(replayDone.$case === "done" && replayDone.value.cached);
    assert.equal(fakes.generation.calls.length, 1, "no generation for a cached stream");
  });

  test("a generator error mid-stream ends the stream with that status, after what was already sent", async () => {
    fakes.generation.behaviour.generateStream = async function* () {
      yield { event: { $case: "delta", value: "Everyone gets " } };
      throw new UnavailableError("model connection reset");
    };
    const client = as("acme");
    const { events, error } = await drain(client.askStream(streamReq({})));
    assert.deepEqual(shape(events), ["sources", "answerDelta"]);
    assert.ok(error, "the stream ends with an error");
    expectCode(error, status.UNAVAILABLE, /^generation is unavailable: model connection reset/);
    fakes.generation.behaviour.generateStream = (req) => fakeAnswerStream(req);
    const retried = await drain(client.askStream(streamReq({})));
    assert.equal(retried.error, undefined);
    const done = retried.events.at(-1)!.event!;
    assert.ok(done.$case === "done" && !done.value.cached, "a failed stream left nothing in the cache");
  });

  test("validation and dependency errors end the stream before any event", async () => {
    const bad = await drain(as("acme").askStream(streamReq({ question: "" })));
    assert.deepEqual(bad.events, []);
    expectCode(bad.error!, status.INVALID_ARGUMENT, /question/);
    fakes.retrieval.behaviour.search = async () => {
      throw new UnavailableError("index offline");
    };
    const down = await drain(as("acme").askStream(streamReq({})));
    assert.deepEqual(down.events, []);
    expectCode(down.error!, status.UNAVAILABLE, /^retrieval is unavailable/);
    expectCode((await drain(as(undefined).askStream(streamReq({})))).error!, status.UNAUTHENTICATED);
  });
});

describe("SubmitAsk / GetAskResult", () => {
  test("a bad filter is refused when the ask is submitted, naming the field, not accepted and failed later", async () => {
    const client = as("acme");
    const control = await rejection(client.submitAsk(SubmitAskRequest.fromPartial({ question: "Who approves holidays?", filter: { tags: ["hr", "bad\u0007tag"] } })));
    expectCode(control, status.INVALID_ARGUMENT, /control characters/);
    assert.equal(errorDetails(control).field, "filter.tags[1]");
    const ranges = await rejection(client.submitAsk(SubmitAskRequest.fromPartial({ question: "Who approves holidays?", filter: { numericRanges: Array.from({ length: 17 }, () => ({ key: "year" })) } })));
    assert.equal(errorDetails(ranges).field, "filter.numeric_ranges");
  });

  test("runs in the background: pending, running, succeeded; tenant-scoped; the result is the full answer", async () => {
    const client = as("acme");
    const held = gate();
    fakes.generation.behaviour.generate = async (req) => (await held.pass(), fakeAnswer(req));

    const first = await client.submitAsk(SubmitAskRequest.fromPartial({ question: "How many days of leave do I get?", collection: "handbook", topK: 2 }));
    assert.match(first.askId, /^[0-9a-f-]{36}$/);
    assert.equal(first.state, AskState.ASK_STATE_PENDING);
    assert.ok(first.createTime instanceof Date);
    await held.arrived;
    const running = await client.getAskResult({ askId: first.askId });
    assert.equal(running.state, AskState.ASK_STATE_RUNNING);
    assert.equal(running.question, "How many days of leave do I get?");
    assert.equal(running.result, undefined);
    assert.equal(running.completeTime, undefined);

    // The only worker is busy: the next ask waits.
    const second = await client.submitAsk(SubmitAskRequest.fromPartial({ question: "Who approves holidays?" }));
    assert.equal((await client.getAskResult({ askId: second.askId })).state, AskState.ASK_STATE_PENDING);

    // Another tenant cannot see it; an unknown id is not found; an empty id is invalid.
    expectCode(await rejection(as("globex").getAskResult({ askId: first.askId })), status.NOT_FOUND, /ask/);
    expectCode(await rejection(client.getAskResult({ askId: "00000000-0000-0000-0000-000000000000" })), status.NOT_FOUND);
    const empty = await rejection(client.getAskResult({ askId: "" }));
    expectCode(empty, status.INVALID_ARGUMENT);
    assert.equal(errorDetails(empty).field, "ask_id");

    held.open();
    const done = await settled(client, first.askId);
    assert.equal(done.state, AskState.ASK_STATE_SUCCEEDED, `${done.errorCode}: ${done.errorMessage}`);
    assert.equal(done.result?.answer, "Everyone gets 30 days of paid leave a year [1].");
    assert.equal(done.result?.collection, "handbook");
    assert.equal(done.result?.sources.length, 2);
    assert.equal(done.errorCode, "");
    assert.ok(done.completeTime instanceof Date && done.completeTime >= done.createTime!);
    assert.equal((await settled(client, second.askId)).state, AskState.ASK_STATE_SUCCEEDED);

    // The background calls carried the submitter's tenant, and the top_k.
    assert.ok(fakes.retrieval.searches.length >= 2 && fakes.retrieval.searches.every((s) => s.tenant === "acme"));
    assert.equal(fakes.retrieval.searches[0]!.request.topK, 2);
    assert.ok(fakes.generation.calls.every((g) => g.tenant === "acme"));
  });

  test("a failing ask ends FAILED with the status name and message; bad input fails at submission", async () => {
    const client = as("acme");
    fakes.generation.behaviour.generate = async () => {
      throw new UnavailableError("model overloaded");
    };
    const { askId } = await client.submitAsk(SubmitAskRequest.fromPartial({ question: "Will this fail?" }));
    const failed = await settled(client, askId);
    assert.equal(failed.state, AskState.ASK_STATE_FAILED);
    assert.equal(failed.errorCode, "UNAVAILABLE");
    assert.match(failed.errorMessage, /^generation is unavailable: model overloaded/);
    assert.equal(failed.result, undefined);
    assert.ok(failed.completeTime instanceof Date);

    const invalid = await rejection(client.submitAsk(SubmitAskRequest.fromPartial({ question: " " })));
    expectCode(invalid, status.INVALID_ARGUMENT);
    assert.equal(errorDetails(invalid).field, "question");
    expectCode(await rejection(client.submitAsk(SubmitAskRequest.fromPartial({ question: "q", topK: 99 }))), status.INVALID_ARGUMENT, /top_k/);
    expectCode(await rejection(as(undefined).submitAsk(SubmitAskRequest.fromPartial({ question: "q" }))), status.UNAUTHENTICATED);
    expectCode(await rejection(as(undefined).getAskResult({ askId })), status.UNAUTHENTICATED);
  });
});

describe("configuration and unreachable dependencies", () => {
  test("a bad setting stops the process, naming the variable", async () => {
    await assert.rejects(startServiceProcess("query", { ASK_RESULT_TTL_MS: "one day" }), /exited \(78\)[\s\S]*ASK_RESULT_TTL_MS/);
    await assert.rejects(startServiceProcess("query", { REDIS_URL: "localhost:6379" }), /REDIS_URL/);
  });

  test("a dependency nobody answers at is UNAVAILABLE, named", async () => {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    const endpoints = fakes.endpoints.replace(/generation=[^,]+/, "generation=127.0.0.1:1");
    const lonely = await startServiceProcess("query", { RAG_ENDPOINTS: endpoints });
    try {
      const c = queryClients(() => lonely.address);
      expectCode(await rejection(c.as("acme").ask(ask({}))), status.UNAVAILABLE, /^generation is unavailable/);
      c.closeAll();
    } finally {
      assert.equal(await lonely.stop(), 0);
    }
  });
});
