import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { AskRequest, type DeepPartial } from "#gen/rag/v1/query.js";
import { Filter } from "#gen/rag/v1/retrieval.js";
import { answerCacheKey, normaliseQuestion } from "./cache-key.js";
import { askPlan } from "./plan.js";

const key = (req: DeepPartial<AskRequest>, { tenant = "acme", version = "7", model = "" } = {}) =>
  answerCacheKey(tenant, askPlan(AskRequest.fromPartial({ question: "What is the leave policy?", ...req })), version, model);

describe("answer cache key", () => {
  test("questions are normalised for case, whitespace and punctuation", () => {
    assert.equal(normaliseQuestion("  What IS the\tleave   policy?! "), "what is the leave policy");
    assert.equal(normaliseQuestion("Ｗｈａｔ’s up…"), "what s up", "NFKC folds full-width letters; any punctuation is a separator");
    assert.equal(key({ question: "what is the LEAVE policy" }), key({}));
  });

  test("equivalent requests share a key once defaults are resolved", () => {
    assert.equal(key({ topK: 5 }), key({ topK: 0 }));
    assert.equal(key({ collection: "default" }), key({}));
    assert.equal(key({ options: { maxTokens: 512, template: "default", searchMode: 1, bypassCache: true } }), key({}));
    assert.equal(key({ filter: Filter.fromPartial({}) }), key({}), "an empty filter is no filter");
    assert.equal(
      key({ filter: Filter.fromPartial({ tags: ["b", "a", "a"], documentIds: ["y", "x"], metadata: { k2: "2", k1: "1" } }) }),
      key({ filter: Filter.fromPartial({ tags: ["a", "b"], documentIds: ["x", "y"], metadata: { k1: "1", k2: "2" } }) }),
    );
    assert.equal(
      key({ filter: Filter.fromPartial({ numericRanges: [{ key: "a", gte: 1 }, { key: "b", lt: 2 }] }) }),
      key({ filter: Filter.fromPartial({ numericRanges: [{ key: "b", lt: 2 }, { key: "a", gte: 1 }] }) }),
    );
  });

  test("anything that changes the answer changes the key", () => {
    const base = key({});
    const variants = [
      key({ question: "What is the travel policy?" }),
      key({ topK: 6 }),
      key({ collection: "hr" }),
      key({ filter: Filter.fromPartial({ tags: ["hr"] }) }),
      key({ filter: Filter.fromPartial({ numericRanges: [{ key: "a", gte: 1 }] }) }),
      key({ filter: Filter.fromPartial({ numericRanges: [{ key: "a", gt: 1 }] }) }),
      key({ filter: Filter.fromPartial({ timeRanges: [{ startTime: new Date("2024-01-01T00:00:00Z") }] }) }),
      key({ options: { searchMode: 3 } }),
      key({ options: { provider: "openai" } }),
      key({ options: { model: "gpt-4o-mini" } }),
      key({ options: { maxTokens: 100 } }),
      key({ options: { template: "concise" } }),
      key({}, { version: "8" }),
      key({}, { tenant: "globex" }),
      key({}, { model: "text-embedding-3-small" }),
    ];
    assert.equal(new Set([base, ...variants]).size, variants.length + 1);
  });

  test("the key is readable where it matters: tenant, collection and version lead", () => {
    assert.match(key({ collection: "hr" }, { tenant: "acme", version: "42" }), /^answer:v1:acme:hr:42:[0-9a-f]{64}$/);
  });
});
