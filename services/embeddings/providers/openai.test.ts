import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { RpcError } from "#mesh/errors.js";
import { fakeEmbedding, startFakeEmbeddingsAPI, type FakeEmbeddingsAPI } from "#testing/fakes/openai.js";
import { OpenAIProvider, type OpenAIProviderOptions } from "./openai.js";

let fake: FakeEmbeddingsAPI;

before(async () => {
  fake = await startFakeEmbeddingsAPI(4);
});
after(async () => {
  await fake?.close();
});
beforeEach(() => {
  fake.received.length = 0;
  fake.script.length = 0;
  fake.fallback = { kind: "vectors" };
});

function provider(opts: Partial<OpenAIProviderOptions> = {}): OpenAIProvider {
  return new OpenAIProvider({ baseURL: fake.baseURL, apiKey: "sk-test", model: "fake-embed", batchSize: 2, concurrency: 2, maxRetries: 2, timeoutMs: 10_000, ...opts });
}

function unit(values: number[]): number[] {
  const n = Math.sqrt(values.reduce((s, v) => s + v * v, 0));
  return values.map((v) => Math.fround(v / n));
}

async function rpcFailure(p: Promise<unknown>): Promise<RpcError> {
  const err = await p.then(
    () => assert.fail("expected the call to fail"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof RpcError, `expected a typed error, got ${String(err)}`);
  return err;
}

describe("openai provider against a real OpenAI-compatible HTTP server", () => {
  test("batches, keeps order, normalises, counts tokens and sends the configured request", async () => {
    const texts = ["first text", "second", "third one here", "4th", "fifth"];
    const out = await provider({ dimensions: 4 }).embed(texts, { inputType: "document" });
    assert.equal(fake.received.length, 3, "5 texts in batches of 2");
    // Two requests are in flight at once, so they may arrive in either order.
    const byFirstText = (a: string[], b: string[]) => a[0]!.localeCompare(b[0]!);
    assert.deepEqual(fake.received.map((r) => r.body.input).sort(byFirstText), [["first text", "second"], ["third one here", "4th"], ["fifth"]].sort(byFirstText));
    for (const r of fake.received) {
      assert.equal(r.authorization, "Bearer sk-test");
      assert.equal(r.body.model, "fake-embed");
      assert.equal(r.body.encoding_format, "float");
      assert.equal(r.body.dimensions, 4);
    }
    assert.deepEqual(out.vectors.map((v) => Array.from(v)), texts.map((t) => unit(fakeEmbedding(t, 4))));
    assert.equal(out.tokens, 8, "sum of the provider's prompt_tokens over the batches");
  });

  test("retries a 429 (honouring Retry-After) and then succeeds", async () => {
    fake.script.push({ kind: "error", status: 429, headers: { "retry-after": "0" }, message: "slow down" });
    const out = await provider({ batchSize: 8 }).embed(["a", "b"], { inputType: "document" });
    assert.equal(fake.received.length, 2, "the rate-limited request, then its retry");
    assert.deepEqual(fake.received[1]!.body.input, ["a", "b"]);
    assert.equal(out.vectors.length, 2);
  });

  test("a 429 that persists is RESOURCE_EXHAUSTED", async () => {
    fake.fallback = { kind: "error", status: 429, headers: { "retry-after-ms": "5" }, message: "quota" };
    const err = await rpcFailure(provider({ maxRetries: 1 }).embed(["a"], { inputType: "document" }));
    assert.equal(err.code, status.RESOURCE_EXHAUSTED);
    assert.match(err.message, /rate-limiting \(HTTP 429: .*quota.*\); gave up after 2 attempts/);
    assert.equal(fake.received.length, 2);
  });

  test("a 500 that persists is a clear UNAVAILABLE after the retries", async () => {
    fake.fallback = { kind: "error", status: 500, headers: { "retry-after-ms": "5" }, message: "model crashed" };
    const err = await rpcFailure(provider({ maxRetries: 2 }).embed(["a"], { inputType: "document" }));
    assert.equal(err.code, status.UNAVAILABLE);
    assert.match(err.message, /embedding provider failed \(HTTP 500: .*model crashed.*\) after 3 attempts/);
    assert.equal(fake.received.length, 3, "one request and two retries");
  });

  test("a vector of the wrong dimension is a clear error", async () => {
    fake.fallback = { kind: "vectors", dimensions: 3 };
    const err = await rpcFailure(provider({ dimensions: 4 }).embed(["a", "b"], { inputType: "document" }));
    assert.equal(err.code, status.FAILED_PRECONDITION);
    assert.match(err.message, /3-dimensional vector for texts\[0\].*EMBEDDINGS_DIMENSIONS=4/);
  });

  test("without a configured dimension the first answer fixes it", async () => {
    const p = provider();
    assert.equal(p.dimensions, undefined);
    await p.embed(["a"], { inputType: "document" });
    assert.equal(p.dimensions, 4);
    fake.fallback = { kind: "vectors", dimensions: 6 };
    const err = await rpcFailure(p.embed(["x", "y", "z"], { inputType: "document" }));
    assert.equal(err.code, status.FAILED_PRECONDITION);
    assert.match(err.message, /6-dimensional vector for texts\[0\].*the 4 of its earlier vectors/);
  });

  test("refused credentials are reported as a configuration problem, not retried", async () => {
    fake.fallback = { kind: "error", status: 401, message: "bad key" };
    const err = await rpcFailure(provider().embed(["a"], { inputType: "document" }));
    assert.equal(err.code, status.FAILED_PRECONDITION);
    assert.match(err.message, /HTTP 401.*OPENAI_API_KEY/);
    assert.equal(fake.received.length, 1);
  });

  test("an unreachable server is UNAVAILABLE", async () => {
    const closed = await startFakeEmbeddingsAPI();
    await closed.close();
    const err = await rpcFailure(provider({ baseURL: closed.baseURL, maxRetries: 0 }).embed(["a"], { inputType: "document" }));
    assert.equal(err.code, status.UNAVAILABLE);
    assert.match(err.message, /cannot reach the embedding provider at http:\/\/127\.0\.0\.1:\d+\/v1/);
  });

  test("stops waiting when the call's signal fires", async () => {
    fake.fallback = { kind: "hang" };
    const controller = new AbortController();
    const pending = provider().embed(["a"], { inputType: "document", signal: controller.signal });
    const abandoned = fake.abandoned();
    await fake.requests(1);
    controller.abort(new RpcError(status.DEADLINE_EXCEEDED, "deadline of 50 ms exceeded"));
    const err = await rpcFailure(pending);
    assert.equal(err.code, status.DEADLINE_EXCEEDED);
    await abandoned; // the HTTP request was really closed, not left running
  });

  test("passes the input type as the configured prefix", async () => {
    const p = provider({ queryPrefix: "query: ", documentPrefix: "passage: " });
    assert.equal(p.usesInputType, true);
    await p.embed(["how tall"], { inputType: "query" });
    await p.embed(["very tall"], { inputType: "document" });
    assert.deepEqual(fake.received.map((r) => r.body.input), [["query: how tall"], ["passage: very tall"]]);
    assert.equal(provider().usesInputType, false);
  });
});
