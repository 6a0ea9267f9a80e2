import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import {
  FinishReason,
  GenerateRequest,
  GenerateStreamRequest,
  GenerationServiceClient,
  type Citation,
  type ContextPassage,
  type DeepPartial,
  type GenerateStreamResponse,
  type GenerationSummary,
} from "#gen/rag/v1/generation.js";
import type { PromiseClient } from "#mesh/client.js";
import { errorDetails } from "#mesh/errors.js";
import { rejection } from "#testing/grpc.js";
import { startServiceProcess, type ServiceProcess } from "#testing/service-process.js";
import { startFakeChatCompletions, type FakeChatCompletions } from "#testing/fakes/openai.js";
import { NO_ANSWER } from "./provider.js";
import { runtime } from "#testing/runtime.js";

type Generation = PromiseClient<typeof GenerationServiceClient.service>;

let extractive: ServiceProcess;
let openai: ServiceProcess;
let fake: FakeChatCompletions;
const clients: Generation[] = [];

function client(service: ServiceProcess, tenant = "acme"): Generation {
  const c = runtime.connect(GenerationServiceClient, "generation", { target: service.address, metadata: tenant ? { "x-tenant-id": tenant } : {} });
  clients.push(c);
  return c;
}


async function collect(stream: AsyncIterable<GenerateStreamResponse>) {
  const deltas: string[] = [];
  const citations: Citation[] = [];
  const summaries: GenerationSummary[] = [];
  const order: string[] = [];
  for await (const message of stream) {
    const event = message.event!;
    order.push(event.$case);
    if (event.$case === "delta") deltas.push(event.value);
    else if (event.$case === "citation") citations.push(event.value);
    else summaries.push(event.value);
  }
  return { deltas, citations, summaries, order };
}

const PASSAGES: Partial<ContextPassage>[] = [
  { chunkId: "c-leave", documentId: "d-hr", title: "Leave policy", text: "Everyone gets 30 days of paid leave a year. Unused days expire at the end of March." },
  { chunkId: "c-kit", documentId: "d-it", title: "Equipment", text: "New hires get a laptop and a phone on their first day. Repairs go through the IT desk." },
];

before(async () => {
  fake = await startFakeChatCompletions();
  [extractive, openai] = await Promise.all([
    startServiceProcess("generation", {}),
    startServiceProcess("generation", { GENERATION_PROVIDER: "openai", OPENAI_BASE_URL: fake.baseURL, OPENAI_API_KEY: "test-key", GENERATION_MODEL: "fake-model", GENERATION_MAX_RETRIES: "1" }),
  ]);
});

after(async () => {
  clients.forEach((c) => c.close());
  const codes = await Promise.all([extractive?.stop(), openai?.stop()]);
  await fake?.close();
  assert.deepEqual(codes, [0, 0], "both processes exit cleanly on SIGTERM");
});

describe("generation over gRPC (extractive default)", () => {
  test("Generate quotes and cites the answering sentence", async () => {
    const res = await client(extractive).generate(GenerateRequest.fromPartial({ question: "How many days of paid leave does everyone get?", passages: PASSAGES }));
    assert.equal(res.answer, "Everyone gets 30 days of paid leave a year. [1]");
    assert.equal(res.answered, true);
    assert.equal(res.provider, "extractive");
    assert.equal(res.model, "extractive-v1");
    assert.equal(res.passagesUsed, 2);
    assert.equal(res.finishReason, FinishReason.FINISH_REASON_STOP);
    assert.deepEqual(res.citations, [{ marker: 1, chunkId: "c-leave", documentId: "d-hr", quote: "Everyone gets 30 days of paid leave a year.", quoteStart: 0, quoteEnd: 43 }]);
    assert.ok(res.usage!.promptTokens > 0 && res.usage!.completionTokens > 0);
  });

  test("GenerateStream sends word deltas, then citations, then one summary", async () => {
    const req = GenerateStreamRequest.fromPartial({ question: "What do new hires get on their first day?", passages: PASSAGES, options: { template: "concise" } });
    const { deltas, citations, summaries, order } = await collect(client(extractive).generateStream(req));
    assert.equal(deltas.join(""), "New hires get a laptop and a phone on their first day. [2]");
    assert.ok(deltas.length >= 10, "word-sized deltas");
    assert.deepEqual(order, [...deltas.map(() => "delta"), "citation", "summary"]);
    assert.equal(citations[0]?.chunkId, "c-kit");
    assert.equal(summaries.length, 1);
    assert.equal(summaries[0]!.answered, true);
    assert.equal(summaries[0]!.provider, "extractive");
  });

  test("no answer in the passages, and no passages at all, say so plainly", async () => {
    const gen = client(extractive);
    const unrelated = await gen.generate(GenerateRequest.fromPartial({ question: "What is the boiling point of mercury?", passages: PASSAGES }));
    assert.deepEqual([unrelated.answer, unrelated.answered, unrelated.citations], [NO_ANSWER, false, []]);
    const empty = await collect(gen.generateStream(GenerateStreamRequest.fromPartial({ question: "Anything?" })));
    assert.equal(empty.deltas.join(""), NO_ANSWER);
    assert.deepEqual(empty.order.slice(-1), ["summary"]);
    assert.equal(empty.summaries[0]!.answered, false);
    assert.equal(empty.summaries[0]!.passagesUsed, 0);
  });

  test("bad requests are refused naming the field", async () => {
    const gen = client(extractive);
    const cases: [DeepPartial<GenerateRequest>, string, RegExp][] = [
      [{ question: "  " }, "question", /required/],
      [{ question: "x".repeat(4001) }, "question", /at most 4000/],
      [{ question: "q", passages: Array.from({ length: 101 }, () => ({ text: "t" })) }, "passages", /at most 100/],
      [{ question: "q", passages: [{ text: "" }] }, "passages[0].text", /required/],
      [{ question: "q", passages: [{ number: 2, text: "a" }, { number: 0, text: "b" }] }, "passages[1].number", /already used by passages\[0\]/],
      [{ question: "q", options: { provider: "anthropic" } }, "options.provider", /available here: extractive/],
      [{ question: "q", options: { model: "gpt-4o" } }, "options.model", /one model/],
      [{ question: "q", options: { template: "poem" } }, "options.template", /default, concise, detailed/],
      [{ question: "q", options: { maxTokens: 5000 } }, "options.max_tokens", /1-4096/],
      [{ question: "q", options: { temperature: 3 } }, "options.temperature", /between 0 and 2/],
    ];
    for (const [req, field, message] of cases) {
      const err = await rejection(gen.generate(GenerateRequest.fromPartial(req)));
      assert.equal(err.code, status.INVALID_ARGUMENT, `${field}: ${err.details}`);
      assert.equal(errorDetails(err).field, field);
      assert.match(err.details, message);
    }
    const streamed = await rejection(collect(gen.generateStream(GenerateStreamRequest.fromPartial({ question: "" }))));
    assert.equal(streamed.code, status.INVALID_ARGUMENT);
    assert.equal(errorDetails(streamed).field, "question");
  });

  test("a call without a tenant is refused", async () => {
    const err = await rejection(client(extractive, "").generate(GenerateRequest.fromPartial({ question: "q" })));
    assert.equal(err.code, status.UNAUTHENTICATED);
  });
});

describe("generation over gRPC (openai provider)", () => {
  test("GenerateStream relays the model's deltas, then citations and usage", async () => {
    fake.reply = () => ({ pieces: ["Everyone gets ", "30 days ", "of paid leave [1]."], usage: { prompt_tokens: 321, completion_tokens: 12 } });
    const req = GenerateStreamRequest.fromPartial({ question: "How much paid leave is there?", passages: PASSAGES });
    const { deltas, citations, summaries, order } = await collect(client(openai).generateStream(req));
    assert.deepEqual(deltas, ["Everyone gets ", "30 days ", "of paid leave [1]."]);
    assert.deepEqual(order, ["delta", "delta", "delta", "citation", "summary"]);
    assert.equal(citations[0]!.quote, "Everyone gets 30 days of paid leave a year.");
    assert.deepEqual(summaries[0]!.usage, { promptTokens: 321, completionTokens: 12, totalTokens: 333 });
    assert.equal(summaries[0]!.provider, "openai");
    assert.equal(summaries[0]!.model, "fake-model");
    assert.equal(fake.requests.at(-1)!.stream, true);
  });

  test("Generate asks for a plain completion; the extractive provider stays available by name", async () => {
    fake.reply = () => ({ pieces: ["New hires get a laptop and a phone [2]."] });
    const gen = client(openai);
    const res = await gen.generate(GenerateRequest.fromPartial({ question: "What do new hires get?", passages: PASSAGES, options: { model: "other-model", temperature: 0 } }));
    assert.equal(res.answer, "New hires get a laptop and a phone [2].");
    assert.equal(res.model, "other-model");
    assert.equal(fake.requests.at(-1)!.model, "other-model");
    assert.equal(fake.requests.at(-1)!.temperature, 0);
    assert.equal(fake.requests.at(-1)!.stream, false);
    const local = await gen.generate(GenerateRequest.fromPartial({ question: "What do new hires get?", passages: PASSAGES, options: { provider: "extractive" } }));
    assert.equal(local.provider, "extractive");
  });

  test("a rate-limited provider is RESOURCE_EXHAUSTED; a model that never answers hits the deadline", async () => {
    const gen = client(openai);
    fake.reply = () => ({ status: 429, message: "rate limited", headers: { "retry-after-ms": "1" } });
    const limited = await rejection(gen.generate(GenerateRequest.fromPartial({ question: "q?", passages: PASSAGES })));
    assert.equal(limited.code, status.RESOURCE_EXHAUSTED);

    fake.reply = () => ({ hang: true });
    const late = await rejection(collect(gen.generateStream(GenerateStreamRequest.fromPartial({ question: "q?", passages: PASSAGES }), { deadlineMs: 500 })));
    assert.equal(late.code, status.DEADLINE_EXCEEDED);
    await fake.hungUp; // the service dropped its model request when the deadline passed
  });
});

describe("configuration", () => {
  test("a bad provider or a missing key stops the process naming the variable", async () => {
    await assert.rejects(startServiceProcess("generation", { GENERATION_PROVIDER: "gpt" }), /exited \(78\)[\s\S]*GENERATION_PROVIDER/);
    await assert.rejects(startServiceProcess("generation", { GENERATION_PROVIDER: "openai", OPENAI_API_KEY: "", OPENAI_BASE_URL: "" }), /exited \(78\)[\s\S]*OPENAI_API_KEY/);
  });
});
