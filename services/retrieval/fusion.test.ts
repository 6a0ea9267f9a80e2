import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { fuse, qdrantRrf, rrfTerm } from "./fusion.js";

const r = (...ids: string[]) => ids.map((id, i) => ({ id, score: 10 - i, item: id }));

describe("reciprocal rank fusion", () => {
  test("k = 60, equal weights: the classic sum of 1 / (60 + rank)", () => {
    const out = fuse(r("a", "b", "c"), r("c", "a", "d"), { k: 60, denseWeight: 1, sparseWeight: 1 }, 10);
    assert.deepEqual(out.map((f) => f.id), ["a", "c", "b", "d"]);
    const a = out[0]!;
    assert.equal(a.score, 1 / 61 + 1 / 62);
    assert.deepEqual([a.denseRank, a.sparseRank, a.denseScore, a.sparseScore], [1, 2, 10, 9]);
    const d = out[3]!;
    assert.deepEqual([d.denseRank, d.sparseRank, d.denseScore], [0, 3, 0], "a side that did not return the point reports 0");
  });

  test("a weight divides the rank, as Qdrant's weighted RRF does", () => {
    const p = { k: 2, denseWeight: 0.1, sparseWeight: 1 };
    assert.equal(rrfTerm(1, p, 0.1), 1 / (2 + 10));
    assert.equal(rrfTerm(0, p, 1), 0, "rank 0 means absent");
    // A small dense weight keeps the sparse order and slots dense-only hits in behind strong keyword hits.
    const out = fuse(r("x", "y"), r("a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"), p, 20);
    assert.deepEqual(out.slice(0, 3).map((f) => f.id), ["a", "b", "c"]);
    assert.ok(out.findIndex((f) => f.id === "x") > 5);
  });

  test("limit, and ties broken by best single rank then id", () => {
    const out = fuse(r("a", "b"), r("b", "a"), { k: 60, denseWeight: 1, sparseWeight: 1 }, 1);
    assert.deepEqual(out.map((f) => f.id), ["a"]);
  });

  test("Qdrant's k counts ranks from 0, so ours maps to k + 1; weights only when not 1", () => {
    assert.deepEqual(qdrantRrf({ k: 60, denseWeight: 1, sparseWeight: 1 }, ["dense", "sparse"]), { rrf: { k: 61 } });
    assert.deepEqual(qdrantRrf({ k: 2, denseWeight: 0.1, sparseWeight: 1 }, ["dense", "sparse"]), { rrf: { k: 3, weights: [0.1, 1] } });
    // Qdrant's term 1 / ((pos + 1) / w + k' - 1) with pos 0-based must equal ours.
    const qdrantTerm = (pos: number, k: number, w: number) => 1 / ((pos + 1) / w + k - 1);
    assert.equal(qdrantTerm(4, 3, 0.1), rrfTerm(5, { k: 2, denseWeight: 0.1, sparseWeight: 1 }, 0.1));
  });
});
