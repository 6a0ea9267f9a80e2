import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { InvalidArgumentError } from "#mesh/errors.js";
import type { IndexPoint, Scope, SearchFilter, SearchQuery, VectorBackend } from "./backend.js";
import { rrfTerm } from "./fusion.js";

/**
 * The behaviour every VectorBackend must have, written once and run against each engine (LanceDB always,
 * Qdrant when QDRANT_URL is set). `open` may be called more than once: each call returns a new backend
 * over the same storage, which is how the suite checks that versions survive a restart.
 */
export interface BackendHarness {
  open(): Promise<VectorBackend>;
  cleanup(): Promise<void>;
}

const FUSION = { k: 60, denseWeight: 1, sparseWeight: 1 };
const NO_FILTER: SearchFilter = { documentIds: [], tags: [], metadata: {}, numericRanges: [], timeRanges: [] };

export function point(p: Partial<IndexPoint> & { text: string; vector: number[] }): IndexPoint {
  return {
    chunkId: randomUUID(),
    documentId: randomUUID(),
    title: "",
    sourceUri: "",
    headingPath: [],
    chunkIndex: 0,
    tags: [],
    metadata: {},
    documentTimeMs: undefined,
    ...p,
  };
}

function query(q: Partial<SearchQuery>): SearchQuery {
  const retrievers = q.retrievers ?? [...(q.vector ? (["dense"] as const) : []), ...(q.text ? (["sparse"] as const) : [])];
  return { retrievers, filter: NO_FILTER, topK: 10, candidates: 50, fusion: FUSION, includeVectors: false, ...q };
}

function filter(f: Partial<SearchFilter>): SearchFilter {
  return { ...NO_FILTER, ...f };
}

async function invalid(p: Promise<unknown>, field: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof InvalidArgumentError, `expected InvalidArgumentError, got ${String(err)}`);
    assert.equal(err.field, field);
    return true;
  });
}

export function backendContract(name: string, harness: () => Promise<BackendHarness>, options: { skip?: string } = {}): void {
  if (options.skip) {
    // One skipped test, so the runner's summary counts the engine as skipped rather than passing silently.
    test(`VectorBackend contract: ${name}`, { skip: options.skip }, () => undefined);
    return;
  }
  describe(`VectorBackend contract: ${name}`, () => {
    let h: BackendHarness;
    let backend: VectorBackend;
    // Each test writes to tenants and collections of its own, so tests do not depend on each other.
    const scope = (collection: string, tenant = `t-${randomUUID().slice(0, 8)}`): Scope => ({ tenant, collection });

    before(async () => {
      h = await harness();
      backend = await h.open();
    });
    after(async () => {
      await backend?.close();
      await h?.cleanup();
    });

    test("upsert, search in every mode, read back every field, delete", async () => {
      const s = scope("round-trip");
      const a = point({ text: "The quick brown fox jumps over the lazy dog", vector: [1, 0, 0, 0], title: "Foxes", sourceUri: "https://example.org/fox", headingPath: ["Animals", "Canines"], chunkIndex: 3, tags: ["animals", "fox"], metadata: { lang: "en", year: "2021" }, documentTimeMs: Date.UTC(2021, 4, 1) });
      const b = point({ text: "Bananas are yellow fruit rich in potassium", vector: [0, 1, 0, 0] });
      const c = point({ text: "A fox den is usually dug into a hillside", vector: [0.7, 0.7, 0, 0] });
      const up = await backend.upsert(s, [a, b, c]);
      assert.equal(up.upserted, 3);
      assert.equal(up.version, 1);

      const dense = await backend.search(s, query({ vector: [1, 0.1, 0, 0], topK: 2 }));
      assert.equal(dense.version, 1);
      assert.deepEqual(dense.hits.map((x) => x.point.chunkId), [a.chunkId, c.chunkId]);
      assert.ok(Math.abs(dense.hits[0]!.denseScore - 1 / Math.sqrt(1.01)) < 1e-4, `cosine similarity, got ${dense.hits[0]!.denseScore}`);
      assert.equal(dense.hits[0]!.score, dense.hits[0]!.denseScore, "dense only: score is the dense score");
      assert.deepEqual([dense.hits[0]!.denseRank, dense.hits[0]!.sparseRank, dense.hits[0]!.sparseScore], [1, 0, 0]);

      const got = dense.hits[0]!.point;
      assert.deepEqual({ ...got, vector: [] }, { ...a, vector: [] }, "every field comes back as written");
      assert.deepEqual(got.vector, [], "no vectors unless asked");
      const withVectors = await backend.search(s, query({ vector: [1, 0, 0, 0], topK: 1, includeVectors: true }));
      assert.deepEqual(withVectors.hits[0]!.point.vector, [1, 0, 0, 0]);

      const sparse = await backend.search(s, query({ text: "foxes", topK: 5 }));
      assert.deepEqual(new Set(sparse.hits.map((x) => x.point.chunkId)), new Set([a.chunkId, c.chunkId]), "BM25 finds the fox passages (stemmed)");
      for (const hit of sparse.hits) {
        assert.ok(hit.sparseScore > 0);
        assert.equal(hit.score, hit.sparseScore, "sparse only: score is the BM25 score");
        assert.equal(hit.denseRank, 0);
      }

      const hybrid = await backend.search(s, query({ vector: [0, 1, 0, 0], text: "fox hillside" }));
      assert.equal(hybrid.hits.length, 3);
      for (const hit of hybrid.hits) {
        const expected = rrfTerm(hit.denseRank, FUSION, 1) + rrfTerm(hit.sparseRank, FUSION, 1);
        assert.ok(Math.abs(hit.score - expected) < 1e-6, `fused score is sum 1/(60+rank): ${hit.score} vs ${expected}`);
      }
      assert.equal(hybrid.hits[0]!.point.chunkId, c.chunkId, "second in both lists beats first in one");
      const scores = hybrid.hits.map((x) => x.score);
      assert.deepEqual(scores, [...scores].sort((x, y) => y - x), "best first");

      const del = await backend.delete(s, { documentIds: [a.documentId], chunkIds: [b.chunkId] });
      assert.equal(del.deleted, 2);
      assert.equal(del.version, 2);
      const left = await backend.search(s, query({ vector: [1, 0, 0, 0], text: "fox bananas" }));
      assert.deepEqual(left.hits.map((x) => x.point.chunkId), [c.chunkId]);
    });

    test("upsert is idempotent and replaces points by chunk id", async () => {
      const s = scope("idem");
      const p = point({ text: "original words about sailing boats", vector: [1, 2, 3, 4], documentId: "doc-1", chunkId: "chunk-1" });
      await backend.upsert(s, [p]);
      const again = await backend.upsert(s, [p]);
      assert.equal(again.version, 2, "a write is a write, even of the same content");
      let info = await backend.getCollection(s);
      assert.equal(info?.pointCount, 1);
      assert.equal(info?.documentCount, 1);
      await backend.upsert(s, [{ ...p, text: "rewritten text about mountain climbing", tags: ["new"] }]);
      info = await backend.getCollection(s);
      assert.equal(info?.pointCount, 1, "same chunk id: replaced, not added");
      assert.equal((await backend.search(s, query({ text: "sailing" }))).hits.length, 0, "old text no longer indexed");
      const hit = (await backend.search(s, query({ text: "climbing" }))).hits[0];
      assert.equal(hit?.point.chunkId, "chunk-1");
      assert.deepEqual(hit?.point.tags, ["new"]);
    });

    test("filters of every kind apply inside the query, before top-k", async () => {
      const s = scope("filters");
      // Twenty decoys that match the query best, and the points the filters select, which match worst.
      const decoys = Array.from({ length: 20 }, (_, i) => point({ text: `alpha alpha alpha decoy ${i}`, vector: [1, 0, 0, i / 100], tags: ["decoy"], metadata: { kind: "decoy", n: String(i) }, documentTimeMs: Date.UTC(2020, 0, 1) }));
      const t1 = point({ text: "alpha target one", vector: [0, 1, 0, 0], documentId: "doc-t1", tags: ["red", "x'y"], metadata: { team: "core", price: "10.5", when: "2024-03-01T00:00:00Z", "odd key'\\": "v'q\\" }, documentTimeMs: Date.UTC(2024, 0, 15) });
      const t2 = point({ text: "alpha target two", vector: [0, 0.9, 0.1, 0], documentId: "doc-t2", tags: ["blue"], metadata: { team: "edge", price: "20", when: "2025-01-01T12:00:00+02:00" }, documentTimeMs: Date.UTC(2025, 5, 1) });
      const t3 = point({ text: "alpha target three", vector: [0, 0.8, 0.2, 0], documentId: "doc-t3", tags: ["red"], metadata: { team: "core", price: "not a number" } });
      await backend.upsert(s, [...decoys, t1, t2, t3]);

      const ids = async (f: Partial<SearchFilter>, topK = 1) => {
        const out: string[][] = [];
        for (const q of [{ vector: [1, 0, 0, 0] }, { text: "alpha decoy" }, { vector: [1, 0, 0, 0], text: "alpha decoy" }]) {
          const r = await backend.search(s, query({ ...q, filter: filter(f), topK }));
          out.push(r.hits.map((x) => x.point.documentId).sort());
        }
        // Dense, sparse and hybrid must agree on which points a filter allows.
        assert.deepEqual(out[1], out[0], `sparse vs dense for ${JSON.stringify(f)}`);
        assert.deepEqual(out[2], out[0], `hybrid vs dense for ${JSON.stringify(f)}`);
        return out[0]!;
      };

      assert.deepEqual(await ids({ documentIds: ["doc-t2"] }), ["doc-t2"], "a top_k of 1 still finds the worst match: pre-filter");
      assert.deepEqual(await ids({ documentIds: ["doc-t1", "doc-t3", "nope"] }, 10), ["doc-t1", "doc-t3"]);
      assert.deepEqual(await ids({ tags: ["red", "green"] }, 10), ["doc-t1", "doc-t3"], "tags: any of");
      assert.deepEqual(await ids({ tags: ["x'y"] }, 10), ["doc-t1"], "quotes are data, not syntax");
      assert.deepEqual(await ids({ metadata: { team: "core" } }, 10), ["doc-t1", "doc-t3"]);
      assert.deepEqual(await ids({ metadata: { team: "core", price: "10.5" } }, 10), ["doc-t1"], "metadata: all of");
      assert.deepEqual(await ids({ metadata: { "odd key'\\": "v'q\\" } }, 10), ["doc-t1"]);
      assert.deepEqual(await ids({ metadata: { team: "Core" } }, 10), [], "case-sensitive");
      assert.deepEqual(await ids({ metadata: { missing: "x" } }, 10), []);
      assert.deepEqual(await ids({ numericRanges: [{ key: "price", bounds: { gte: 10, lt: 20 } }] }, 10), ["doc-t1"]);
      assert.deepEqual(await ids({ numericRanges: [{ key: "price", bounds: { gt: 10.5, lte: 20 } }] }, 10), ["doc-t2"]);
      assert.deepEqual(await ids({ numericRanges: [{ key: "price", bounds: {} }] }, 10), ["doc-t1", "doc-t2"], "not a number does not match");
      assert.deepEqual(await ids({ numericRanges: [{ key: "n", bounds: { gte: 18 } }] }, 10), [decoys[18]!.documentId, decoys[19]!.documentId].sort());
      assert.deepEqual(await ids({ timeRanges: [{ field: undefined, startMs: Date.UTC(2024, 0, 1), endMs: Date.UTC(2025, 0, 1) }] }, 10), ["doc-t1"]);
      assert.deepEqual(await ids({ timeRanges: [{ field: undefined, startMs: Date.UTC(2024, 0, 1) }] }, 10), ["doc-t1", "doc-t2"], "open end; no time: no match");
      assert.deepEqual(await ids({ timeRanges: [{ field: undefined, endMs: Date.UTC(2024, 0, 15) }] }, 30), decoys.map((d) => d.documentId).sort(), "end is exclusive");
      assert.deepEqual(await ids({ timeRanges: [{ field: "when", startMs: Date.UTC(2024, 11, 31, 12) }] }, 10), ["doc-t2"], "metadata time with offset");
      assert.deepEqual(await ids({ tags: ["red"], metadata: { team: "core" }, timeRanges: [{ field: undefined, startMs: 0 }] }, 10), ["doc-t1"], "every condition holds");
    });

    test("tenants are isolated: same collection name, same chunk ids", async () => {
      const a = scope("shared", `acme-${randomUUID().slice(0, 6)}`);
      const b = { ...a, tenant: `Beta.${randomUUID().slice(0, 6)}` };
      const p = point({ text: "secret plans of acme corporation", vector: [1, 1, 0, 0], chunkId: randomUUID(), documentId: "doc-1" });
      await backend.upsert(a, [p]);
      assert.equal((await backend.search(b, query({ vector: [1, 1, 0, 0], text: "secret plans" }))).hits.length, 0);
      assert.equal(await backend.getCollection(b), undefined);
      assert.deepEqual(await backend.listCollections(b.tenant, { limit: 10 }), []);
      const del = await backend.delete(b, { documentIds: ["doc-1"], chunkIds: [p.chunkId] });
      assert.equal(del.deleted, 0);
      // B writes a point with the very same ids: A's point must stay A's.
      await backend.upsert(b, [{ ...p, text: "beta's own notes", vector: [0, 0, 1, 1] }]);
      const seenByA = await backend.search(a, query({ text: "secret plans" }));
      assert.equal(seenByA.hits.length, 1);
      assert.equal(seenByA.hits[0]!.point.text, "secret plans of acme corporation");
      assert.equal((await backend.delete(b, { documentIds: ["doc-1"], chunkIds: [] })).deleted, 1);
      assert.equal((await backend.getCollection(a))?.pointCount, 1, "B deleting its doc-1 leaves A's");
      assert.equal((await backend.search(b, query({ text: "secret" }))).hits.length, 0);
    });

    test("versions move on writes only, and survive a restart", async () => {
      const s = scope("versions");
      assert.deepEqual(await backend.search(s, query({ text: "anything" })), { hits: [], version: 0 }, "missing collection: empty, version 0");
      assert.deepEqual(await backend.delete(s, { documentIds: ["x"], chunkIds: [] }), { deleted: 0, version: 0 });
      const p1 = point({ text: "first", vector: [1, 0, 0, 0] });
      const p2 = point({ text: "second", vector: [0, 1, 0, 0] });
      assert.equal((await backend.upsert(s, [p1])).version, 1);
      assert.equal((await backend.upsert(s, [p2])).version, 2);
      assert.deepEqual(await backend.delete(s, { documentIds: ["no-such-doc"], chunkIds: [] }), { deleted: 0, version: 2 }, "nothing removed: version unchanged");
      await backend.search(s, query({ text: "first" }));
      assert.equal((await backend.getCollection(s))?.version, 2, "reads do not move it");
      assert.deepEqual(await backend.delete(s, { documentIds: [], chunkIds: [p1.chunkId] }), { deleted: 1, version: 3 });

      const reopened = await h.open();
      try {
        const info = await reopened.getCollection(s);
        assert.equal(info?.version, 3);
        assert.equal(info?.pointCount, 1);
        assert.equal(info?.dimensions, 4);
        assert.equal((await reopened.upsert(s, [p1])).version, 4, "counting goes on after a restart");
      } finally {
        await reopened.close();
      }
    });

    test("concurrent writes to one collection each get their own version", async () => {
      const s = scope("concurrent");
      const writes = await Promise.all(Array.from({ length: 6 }, (_, i) => backend.upsert(s, [point({ text: `write ${i}`, vector: [1, i, 0, 0] })])));
      assert.deepEqual(writes.map((w) => w.version).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6]);
      const [search, info] = await Promise.all([backend.search(s, query({ text: "write" })), backend.getCollection(s)]);
      assert.equal(search.version, 6);
      assert.equal(info?.pointCount, 6);
    });

    test("vector dimensions are fixed by the first upsert", async () => {
      const s = scope("dims");
      await backend.upsert(s, [point({ text: "three dims", vector: [1, 2, 3] })]);
      await invalid(backend.upsert(s, [point({ text: "four dims", vector: [1, 2, 3, 4] })]), "points[0].vector");
      await invalid(backend.search(s, query({ vector: [1, 2] })), "vector");
      const info = await backend.getCollection(s);
      assert.equal(info?.dimensions, 3);
      assert.equal(info?.version, 1, "a rejected write is not a write");
      // Another collection of the same tenant may have other dimensions.
      assert.equal((await backend.upsert({ ...s, collection: "dims-2" }, [point({ text: "two", vector: [1, 2] })])).version, 1);
    });

    test("deleting a document removes all its points, no orphans", async () => {
      const s = scope("orphans");
      const doc = "doc-many";
      const chunks = Array.from({ length: 30 }, (_, i) => point({ text: `chunk ${i} of the long manual about turbines`, vector: [1, i, 0, 0], documentId: doc, chunkIndex: i }));
      const other = point({ text: "another manual about turbines", vector: [1, 1, 1, 0], documentId: "doc-other" });
      await backend.upsert(s, [...chunks, other]);
      let info = await backend.getCollection(s);
      assert.deepEqual([info?.pointCount, info?.documentCount], [31, 2]);
      assert.equal((await backend.delete(s, { documentIds: [doc], chunkIds: [] })).deleted, 30);
      info = await backend.getCollection(s);
      assert.deepEqual([info?.pointCount, info?.documentCount], [1, 1]);
      const left = await backend.search(s, query({ vector: [1, 0, 0, 0], text: "turbines manual", topK: 100 }));
      assert.deepEqual(left.hits.map((x) => x.point.documentId), ["doc-other"]);
      assert.equal((await backend.search(s, query({ text: "turbines", filter: filter({ documentIds: [doc] }) }))).hits.length, 0);
    });

    test("lists a tenant's collections by name, page by page", async () => {
      const tenant = `lister-${randomUUID().slice(0, 6)}`;
      for (const name of ["zeta", "alpha", "mid-1", "beta_2"]) await backend.upsert({ tenant, collection: name }, [point({ text: name, vector: [1, 0] })]);
      const first = await backend.listCollections(tenant, { limit: 3 });
      assert.deepEqual(first.map((c) => c.name), ["alpha", "beta_2", "mid-1"]);
      assert.ok(first.every((c) => c.tenant === tenant && c.pointCount === 1 && c.version === 1 && c.createTime instanceof Date));
      const rest = await backend.listCollections(tenant, { after: "mid-1", limit: 3 });
      assert.deepEqual(rest.map((c) => c.name), ["zeta"]);
    });
  });
}
