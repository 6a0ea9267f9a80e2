import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { status, type ServiceError } from "@grpc/grpc-js";
import { EmbedRequest, EmbeddingInputType, EmbeddingsServiceClient } from "#gen/rag/v1/embeddings.js";
import type { PromiseClient } from "#mesh/client.js";
import { errorDetails } from "#mesh/errors.js";
import { startServiceProcess, type ServiceProcess } from "#testing/service-process.js";
import { fakeEmbedding, startFakeEmbeddingsAPI, type FakeEmbeddingsAPI } from "#testing/fakes/openai.js";
import { embed as localEmbed } from "./providers/local.js";
import { runtime } from "#testing/runtime.js";

type Embeddings = PromiseClient<typeof EmbeddingsServiceClient.service>;

// With REDIS_URL set (it reaches the service process) the cache outlives this run: fresh tenants keep
// every run's first calls misses.
const run = randomBytes(4).toString("hex");
const running: ServiceProcess[] = [];
const clients: Embeddings[] = [];

async function start(env: Record<string, string>): Promise<ServiceProcess> {
  const service = await startServiceProcess("embeddings", env);
  running.push(service);
  return service;
}

function client(service: ServiceProcess, tenant: string | null = "acme"): Embeddings {
  const metadata: Record<string, string> = tenant === null ? {} : { "x-tenant-id": `${tenant}-${run}` };
  // No client retries: each test counts the requests its call caused.
  const c = runtime.connect(EmbeddingsServiceClient, "embeddings", { target: service.address, metadata, serviceConfig: {} });
  clients.push(c);
  return c;
}

const request = (p: Partial<EmbedRequest>) => EmbedRequest.fromPartial(p);

/** The call fails with INVALID_ARGUMENT naming `field` (in the message and in the details trailer). */
async function expectInvalid(call: Promise<unknown>, field: string, pattern: RegExp): Promise<void> {
  await assert.rejects(call, (err: ServiceError) => {
    assert.equal(err.code, status.INVALID_ARGUMENT, `expected INVALID_ARGUMENT, got ${status[err.code]}: ${err.details}`);
    assert.equal(errorDetails(err).field, field);
    assert.match(err.details, pattern);
    return true;
  });
}

after(async () => {
  clients.forEach((c) => c.close());
  const codes = await Promise.all(running.map((s) => s.stop()));
  assert.deepEqual(codes, running.map(() => 0), "every service process exits cleanly on SIGTERM");
});

describe("embeddings over gRPC with the local provider", () => {
  let service: ServiceProcess;
  before(async () => {
    service = await start({ EMBEDDINGS_DIMENSIONS: "256", EMBEDDINGS_BATCH_SIZE: "2", EMBEDDINGS_MAX_TEXTS: "8", EMBEDDINGS_MAX_TEXT_CHARS: "1000" });
  });

  test("embeds in request order, then answers a repeated call from the cache", async () => {
    const texts = ["Who invented the telephone?", "Bell patented the telephone in 1876.", "Normandy is a region of France."];
    const first = await client(service).embed(request({ texts }));
    assert.equal(first.model, "local-hash-256");
    assert.equal(first.dimensions, 256);
    assert.deepEqual(first.usage, { inputTokens: 16, cacheHits: 0, cacheMisses: 3 });
    const expected = localEmbed(texts, { dimensions: 256 });
    assert.deepEqual(first.vectors.map((v) => v.values), expected.map((v) => Array.from(v)), "the local embedder's vectors, in order");

    const again = await client(service).embed(request({ texts, model: "local-hash-256", inputType: EmbeddingInputType.EMBEDDING_INPUT_TYPE_QUERY }));
    assert.deepEqual(again.usage, { inputTokens: 0, cacheHits: 3, cacheMisses: 0 }, "query and document share vectors with the local provider");
    assert.deepEqual(again.vectors, first.vectors);

    const mixed = await client(service).embed(request({ texts: ["A new text.", texts[1]!, "A new text."] }));
    assert.deepEqual(mixed.usage, { inputTokens: 3, cacheHits: 1, cacheMisses: 2 }, "a repeated new text is embedded once");
    assert.deepEqual(mixed.vectors[1], first.vectors[1]);
    assert.deepEqual(mixed.vectors[0], mixed.vectors[2]);
  });

  test("keeps each tenant's cache entries apart", async () => {
    const texts = ["A text only tenant one has embedded."];
    assert.equal((await client(service, "one").embed(request({ texts }))).usage?.cacheMisses, 1);
    assert.equal((await client(service, "one").embed(request({ texts }))).usage?.cacheHits, 1);
    const other = await client(service, "two").embed(request({ texts }));
    assert.deepEqual(other.usage, { inputTokens: 7, cacheHits: 0, cacheMisses: 1 });
  });

  test("rejects bad input, naming the field", async () => {
    const c = client(service);
    await expectInvalid(c.embed(request({ texts: [] })), "texts", /required: give 1 to 8 texts/);
    await expectInvalid(c.embed(request({ texts: ["fine", ""] })), "texts[1]", /empty/);
    await expectInvalid(c.embed(request({ texts: ["fine", "ok", " \n\t "] })), "texts[2]", /empty/);
    await expectInvalid(c.embed(request({ texts: Array.from({ length: 9 }, (_, i) => `text ${i}`) })), "texts", /at most 8 texts per request, got 9/);
    await expectInvalid(c.embed(request({ texts: ["x".repeat(1001)] })), "texts[0]", /1001 characters, over the limit of 1000/);
    await expectInvalid(c.embed(request({ texts: ["fine"], model: "text-embedding-3-small" })), "model", /unknown model "text-embedding-3-small".*"local-hash-256"/);
    await expectInvalid(c.embed(request({ texts: ["fine"], inputType: 7 as EmbeddingInputType })), "input_type", /unknown value 7/);
    await assert.rejects(client(service, null).embed(request({ texts: ["fine"] })), { code: status.UNAUTHENTICATED });
  });
});

describe("embeddings over gRPC with the openai provider", () => {
  let fake: FakeEmbeddingsAPI;
  let service: ServiceProcess;
  before(async () => {
    fake = await startFakeEmbeddingsAPI(8);
    service = await start({
      EMBEDDINGS_PROVIDER: "openai",
      OPENAI_BASE_URL: fake.baseURL,
      OPENAI_API_KEY: "sk-service",
      EMBEDDINGS_MODEL: "fake-embed",
      EMBEDDINGS_BATCH_SIZE: "2",
      EMBEDDINGS_MAX_RETRIES: "1",
      EMBEDDINGS_QUERY_PREFIX: "query: ",
    });
  });
  after(async () => {
    await fake?.close();
  });

  test("embeds through the provider, caches, and keys the cache by input type", async () => {
    const texts = ["alpha", "beta", "gamma"];
    const first = await client(service).embed(request({ texts }));
    assert.equal(first.model, "fake-embed");
    assert.equal(first.dimensions, 8, "learnt from the provider's first answer");
    assert.deepEqual(first.usage, { inputTokens: 3, cacheHits: 0, cacheMisses: 3 });
    assert.equal(fake.received.length, 2, "3 texts in batches of 2");
    const unit = (v: number[]) => v.map((x) => Math.fround(x / Math.hypot(...v)));
    assert.deepEqual(first.vectors.map((v) => v.values), texts.map((t) => unit(fakeEmbedding(t, 8))));

    const again = await client(service).embed(request({ texts }));
    assert.deepEqual(again.usage, { inputTokens: 0, cacheHits: 3, cacheMisses: 0 });
    assert.equal(fake.received.length, 2, "no provider call for cached texts");

    const asQuery = await client(service).embed(request({ texts: ["alpha"], inputType: EmbeddingInputType.EMBEDDING_INPUT_TYPE_QUERY }));
    assert.equal(asQuery.usage?.cacheMisses, 1, "the query form of a text is another vector");
    assert.deepEqual(fake.received.at(-1)?.body.input, ["query: alpha"]);
  });

  test("a provider failing with 500 is UNAVAILABLE to the caller", async () => {
    fake.fallback = { kind: "error", status: 500, headers: { "retry-after-ms": "5" }, message: "model crashed" };
    try {
      const before = fake.received.length;
      await assert.rejects(client(service).embed(request({ texts: ["never cached"] })), {
        code: status.UNAVAILABLE,
        details: /embedding provider failed \(HTTP 500: .*model crashed.*\) after 2 attempts/,
      });
      assert.equal(fake.received.length - before, 2);
    } finally {
      fake.fallback = { kind: "vectors" };
    }
  });
});

describe("embeddings configuration", () => {
  test("the openai provider needs a base URL and a model: the process stops naming them", async () => {
    await assert.rejects(startServiceProcess("embeddings", { EMBEDDINGS_PROVIDER: "openai" }), (err: Error) => {
      assert.match(err.message, /exited \(78\)/);
      assert.match(err.message, /OPENAI_BASE_URL: required when EMBEDDINGS_PROVIDER=openai/);
      assert.match(err.message, /EMBEDDINGS_MODEL: required when EMBEDDINGS_PROVIDER=openai/);
      return true;
    });
    await assert.rejects(startServiceProcess("embeddings", { EMBEDDINGS_PROVIDER: "remote" }), /EMBEDDINGS_PROVIDER/);
  });
});
