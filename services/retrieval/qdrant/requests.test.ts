import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { pointId } from "./point-id.js";
import { rfc3339, searchFilter, selectorFilter } from "./filter.js";
import { documentVector, queryVector, stem, termIndex, terms } from "./sparse.js";

// The Qdrant request bodies are checked against the client's OpenAPI types at compile time; these tests
// pin their content, since no Qdrant server runs on the development machine.
describe("qdrant request building", () => {
  const scope = { tenant: "acme", collection: "docs" };

  test("every filter starts with the tenant and collection, then the conditions", () => {
    const f = searchFilter(scope, {
      documentIds: ["d1", "d2"],
      tags: ["red"],
      metadata: { team: "core" },
      numericRanges: [{ key: "price", bounds: { gte: 10, lt: 20 } }, { key: "size", bounds: {} }],
      timeRanges: [{ field: undefined, startMs: Date.UTC(2024, 0, 1) }, { field: "when", endMs: Date.UTC(2025, 0, 1) }, { field: undefined }],
    });
    assert.deepEqual(f, {
      must: [
        { key: "tenant_id", match: { value: "acme" } },
        { key: "collection", match: { value: "docs" } },
        { key: "document_id", match: { any: ["d1", "d2"] } },
        { key: "tags", match: { any: ["red"] } },
        { nested: { key: "meta", filter: { must: [{ key: "k", match: { value: "team" } }, { key: "v", match: { value: "core" } }] } } },
        { nested: { key: "meta", filter: { must: [{ key: "k", match: { value: "price" } }, { key: "n", range: { gte: 10, gt: undefined, lte: undefined, lt: 20 } }] } } },
        { nested: { key: "meta", filter: { must: [{ key: "k", match: { value: "size" } }, { key: "n", range: { gte: -Number.MAX_VALUE, gt: undefined, lte: undefined, lt: undefined } }] } } },
        { key: "document_time", range: { gte: "2024-01-01T00:00:00.000Z" } },
        { nested: { key: "meta", filter: { must: [{ key: "k", match: { value: "when" } }, { key: "t", range: { gte: "0001-01-01T00:00:00.000Z", lt: "2025-01-01T00:00:00.000Z" } }] } } },
      ],
    });
    assert.equal(JSON.stringify(f).includes("null"), false, "undefined bounds are left out of the JSON body");
  });

  test("delete selects by document or chunk id, inside the scope", () => {
    assert.deepEqual(selectorFilter(scope, { documentIds: ["d"], chunkIds: ["c"] }), {
      must: [
        { key: "tenant_id", match: { value: "acme" } },
        { key: "collection", match: { value: "docs" } },
        { should: [{ key: "document_id", match: { any: ["d"] } }, { key: "chunk_id", match: { any: ["c"] } }] },
      ],
    });
  });

  test("times are clamped to the four-digit years Qdrant parses", () => {
    assert.equal(rfc3339(Date.UTC(2024, 1, 29, 12)), "2024-02-29T12:00:00.000Z");
    assert.equal(rfc3339(-1e16), "0001-01-01T00:00:00.000Z");
    assert.equal(rfc3339(1e16), "9999-12-31T23:59:59.999Z");
  });

  test("point ids are UUIDs derived from tenant, collection and chunk id", () => {
    const id = pointId("acme", "docs", "chunk-1");
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(pointId("acme", "docs", "chunk-1"), id, "deterministic: an upsert replaces its own point");
    assert.notEqual(pointId("other", "docs", "chunk-1"), id, "another tenant's chunk is another point");
    assert.notEqual(pointId("acme", "docs2", "chunk-1"), id);
    assert.notEqual(pointId("acme", "doc", "schunk-1"), pointId("ac", "medoc", "schunk-1"), "no ambiguity at the seams");
  });

  test("BM25 terms: folded, stop words dropped, endings folded", () => {
    assert.deepEqual(terms("The Countries' crises, inventing Café cafés!"), ["country", "crise", "invent", "cafe", "cafe"]);
    assert.equal(stem("crisis"), "crisis");
    assert.equal(stem("glass"), "glass");
    assert.equal(stem("stopped"), "stop");
    assert.equal(stem("running"), "run");
  });

  test("sparse vectors: sorted unique u32 indices, saturating document weights, unit query weights", () => {
    const d = documentVector("oil oil oil crisis in 1973");
    assert.deepEqual(d.indices, [...d.indices].sort((a, b) => a - b));
    assert.equal(new Set(d.indices).size, d.indices.length);
    assert.ok(d.indices.every((i) => Number.isInteger(i) && i >= 0 && i <= 0xffffffff));
    const oil = d.values[d.indices.indexOf(termIndex("oil"))]!;
    const crisis = d.values[d.indices.indexOf(termIndex("crisis"))]!;
    assert.ok(oil > crisis && oil < 2.2, "three occurrences weigh more, but less than three times (k1 = 1.2)");
    const q = queryVector("When did the oil crisis begin?");
    assert.deepEqual(q.values, [1, 1, 1]);
    assert.deepEqual(queryVector("what is it"), { indices: [], values: [] }, "stop words only: no terms");
  });
});
