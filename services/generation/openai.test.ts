import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { FinishReason } from "#gen/rag/v1/generation.js";
import { DeadlineExceededError, RpcError } from "#mesh/errors.js";
import { passagesInPrompt, startFakeChatCompletions, type FakeChatCompletions } from "#testing/fakes/openai.js";
import { openaiProvider } from "./openai.js";
import { NO_ANSWER, type GenerationInput, type GenerationOutcome, type NumberedPassage } from "./provider.js";

let fake: FakeChatCompletions;

before(async () => {
  fake = await startFakeChatCompletions();
});
after(() => fake.close());
beforeEach(() => {
  fake.requests.length = 0;
});

const PASSAGES: NumberedPassage[] = [
  { number: 1, chunkId: "c1", documentId: "d1", title: "Leave policy", sourceUri: "kb://leave", text: "Everyone gets 30 days of paid leave a year. Unused days expire in March." },
  { number: 2, chunkId: "c2", documentId: "d2", title: "Equipment", sourceUri: "", text: "New hires get a laptop on their first day." },
];

function provider(contextTokens = 4000, maxRetries = 2) {
  return openaiProvider({ baseURL: fake.baseURL, apiKey: "test-key", defaultModel: "fake-model", contextTokens, maxRetries });
}

function input(over: Partial<GenerationInput> = {}): GenerationInput {
  return {
    question: "How many days of paid leave do employees get?",
    passages: PASSAGES,
    model: "fake-model",
    maxTokens: 256,
    temperature: 0.2,
    template: "default",
    stream: false,
    signal: new AbortController().signal,
    ...over,
  };
}

async function run(i: GenerationInput): Promise<{ deltas: string[]; outcome: GenerationOutcome }> {
  const gen = provider().generate(i);
  const deltas: string[] = [];
  let step = await gen.next();
  for (; !step.done; step = await gen.next()) deltas.push(step.value);
  return { deltas, outcome: step.value };
}

async function failure(p: Promise<unknown>): Promise<RpcError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof RpcError, `expected an RpcError, got ${String(err)}`);
    return err;
  }
  assert.fail("expected a failure");
}

describe("openai provider against an OpenAI-compatible server", () => {
  test("plain completion: prompt, answer, citations with quotes, usage from the API", async () => {
    fake.reply = () => ({ pieces: ["Employees get 30 days of paid leave a year [1]."], usage: { prompt_tokens: 120, completion_tokens: 14 } });
    const { deltas, outcome } = await run(input());
    assert.equal(deltas.join(""), "Employees get 30 days of paid leave a year [1].");
    const req = fake.requests[0]!;
    assert.equal(req.model, "fake-model");
    assert.equal(req.stream, false);
    assert.equal(req.max_tokens, 256);
    assert.equal(req.temperature, 0.2);
    assert.equal(req.messages[0]!.role, "system");
    assert.ok(req.messages[0]!.content.includes(NO_ANSWER), "the prompt says how to answer when the context has none");
    assert.match(req.messages[1]!.content, /Question: How many days of paid leave do employees get\?$/);
    assert.deepEqual([...passagesInPrompt(req).keys()], [1, 2]);
    assert.deepEqual(outcome.citations, [
      { marker: 1, chunkId: "c1", documentId: "d1", quote: "Everyone gets 30 days of paid leave a year.", quoteStart: 0, quoteEnd: 43 },
    ]);
    assert.equal(outcome.answered, true);
    assert.deepEqual(outcome.usage, { promptTokens: 120, completionTokens: 14, totalTokens: 134 });
    assert.equal(outcome.finishReason, FinishReason.FINISH_REASON_STOP);
    assert.equal(outcome.passagesUsed, 2);
  });

  test("streamed completion: SSE deltas in order, usage chunk, finish reason", async () => {
    fake.reply = () => ({ pieces: ["New hires ", "get a laptop ", "on day one [2]", "."], finishReason: "length", usage: { prompt_tokens: 99, completion_tokens: 9 } });
    const { deltas, outcome } = await run(input({ stream: true, question: "What do new hires get?" }));
    assert.deepEqual(deltas, ["New hires ", "get a laptop ", "on day one [2]", "."]);
    const req = fake.requests[0]!;
    assert.equal(req.stream, true);
    assert.deepEqual(req.stream_options, { include_usage: true });
    assert.deepEqual(outcome.usage, { promptTokens: 99, completionTokens: 9, totalTokens: 108 });
    assert.equal(outcome.finishReason, FinishReason.FINISH_REASON_LENGTH);
    assert.deepEqual(outcome.citations.map((c) => [c.marker, c.quote]), [[2, "New hires get a laptop on their first day."]]);
  });

  test("a server without usage is still accounted, with estimates", async () => {
    fake.reply = () => ({ pieces: ["Thirty days [1]."], usage: null });
    const { outcome } = await run(input({ stream: true }));
    assert.ok(outcome.usage.promptTokens > 50);
    assert.ok(outcome.usage.completionTokens > 0);
  });

  test("the model's no-answer reply is reported as not answered, without citations", async () => {
    fake.reply = () => ({ pieces: [NO_ANSWER] });
    const { outcome } = await run(input({ question: "Who is the CEO?" }));
    assert.equal(outcome.answered, false);
    assert.deepEqual(outcome.citations, []);
  });

  test("only the passages that fit the context budget are sent", async () => {
    fake.reply = () => ({ pieces: ["Thirty [1]."] });
    const big = { ...PASSAGES[1]!, text: "laptop ".repeat(400) };
    const gen = openaiProvider({ baseURL: fake.baseURL, apiKey: "k", defaultModel: "m", contextTokens: 400, maxRetries: 0 }).generate(input({ passages: [PASSAGES[0]!, big] }));
    let step = await gen.next();
    while (!step.done) step = await gen.next();
    assert.equal(step.value.passagesUsed, 1);
    assert.deepEqual([...passagesInPrompt(fake.requests[0]!).keys()], [1]);
  });

  test("429 and 5xx before the first token are retried", async () => {
    fake.reply = (_req, attempt) =>
      attempt === 1 ? { status: 429, headers: { "retry-after-ms": "1" } } : attempt === 2 ? { status: 503, headers: { "retry-after-ms": "1" } } : { pieces: ["Thirty ", "days [1]."] };
    const { deltas } = await run(input({ stream: true }));
    assert.equal(deltas.join(""), "Thirty days [1].");
    assert.equal(fake.requests.length, 3);

    fake.requests.length = 0;
    fake.reply = (_req, attempt) => (attempt === 1 ? { status: 500, headers: { "retry-after-ms": "1" } } : { pieces: ["Thirty days [1]."] });
    assert.equal((await run(input())).deltas.join(""), "Thirty days [1].");
    assert.equal(fake.requests.length, 2);
  });

  test("errors map to statuses once retries are spent; nothing is retried after the first token", async () => {
    fake.reply = () => ({ status: 429, message: "slow down", headers: { "retry-after-ms": "1" } });
    const limited = await failure(run(input()));
    assert.equal(limited.code, status.RESOURCE_EXHAUSTED);
    assert.equal(fake.requests.length, 3, "one try and two retries");

    fake.requests.length = 0;
    fake.reply = () => ({ status: 404, message: "The model `nope` does not exist" });
    const unknown = await failure(run(input({ model: "nope" })));
    assert.equal(unknown.code, status.INVALID_ARGUMENT);
    assert.equal(unknown.details.field, "options.model");

    fake.requests.length = 0;
    fake.reply = () => ({ pieces: ["Thirty ", "days ", "of leave [1]."], failAfter: 2 });
    const dropped = await failure(run(input({ stream: true })));
    assert.equal(dropped.code, status.UNAVAILABLE);
    assert.equal(fake.requests.length, 1);

    const unreachable = openaiProvider({ baseURL: "http://127.0.0.1:1/v1", apiKey: "k", defaultModel: "m", contextTokens: 4000, maxRetries: 0 });
    const gen = unreachable.generate(input());
    const down = await failure(gen.next());
    assert.equal(down.code, status.UNAVAILABLE);
  });

  test("the call's signal aborts a request the model never answers", async () => {
    fake.reply = () => ({ hang: true });
    const controller = new AbortController();
    const pending = run(input({ stream: true, signal: controller.signal }));
    const arrived = new Promise<void>((resolve) => {
      const previous = fake.reply;
      fake.reply = (req, attempt) => {
        resolve();
        return previous(req, attempt);
      };
    });
    await arrived;
    controller.abort(new DeadlineExceededError("deadline exceeded"));
    const err = await failure(pending);
    assert.equal(err.code, status.DEADLINE_EXCEEDED);
    await fake.hungUp;
  });

  test("model names are checked before any request", () => {
    const p = provider();
    assert.doesNotThrow(() => p.checkModel("meta-llama/Llama-3.1-8B-Instruct"));
    assert.throws(() => p.checkModel("bad model name"), /options\.model/);
  });
});
