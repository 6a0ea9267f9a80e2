import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import path from "node:path";
import { point } from "../backend.contract.js";
import type { SearchQuery } from "../backend.js";
import { LanceBackend } from "./backend.js";
import { tenantKey } from "./catalog.js";

// Retrieval replicas share one LanceDB folder (RAG_REPLICAS=retrieval=2). Two backends opened on one
// folder stand for two processes: each has its own connection, table handles, cache and in-memory lock.

const scope = { tenant: "acme", collection: "docs" };
const WRITES = 20;
const IDS_PER_WRITE = 5;

/** Write i upserts the same ids from either side: chunk i-0 … i-4, so both sides race on every key. */
const batch = (i: number, side: string) =>
  Array.from({ length: IDS_PER_WRITE }, (_, j) => point({ chunkId: `c${i}-${j}`, documentId: `d${i}`, text: `${side} wrote row ${i} ${j}`, vector: [1, i, j] }));

const sparse = (text: string): SearchQuery => ({
  retrievers: ["sparse"],
  text,
  filter: { documentIds: [], tags: [], metadata: {}, numericRanges: [], timeRanges: [] },
  topK: 3,
  candidates: 10,
  fusion: { k: 2, denseWeight: 1, sparseWeight: 1 },
  includeVectors: false,
});

test("lancedb shared by two processes: concurrent upserts of the same ids neither duplicate rows nor lose versions; each sees the other's writes", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "retrieval-lancedb-shared-"));
  const [a, b] = await Promise.all([LanceBackend.open({ dir, optimizeEvery: 7 }), LanceBackend.open({ dir, optimizeEvery: 5 })]);
  try {
    const sides = await Promise.allSettled(
      [a, b].map(async (backend, side) => {
        for (let i = 0; i < WRITES; i++) await backend.upsert(scope, batch(i, `side ${side}`));
      }),
    );
    assert.deepEqual(sides.filter((r) => r.status === "rejected").map((r) => String((r as PromiseRejectedResult).reason)), [], "no write failed");
    for (const backend of [a, b]) {
      const info = await backend.getCollection(scope);
      assert.equal(info?.pointCount, WRITES * IDS_PER_WRITE, "one row per id: no write inserted a key another had just inserted");
      assert.equal(info?.documentCount, WRITES);
      assert.equal(info?.version, 2 * WRITES, "every committed write moved the version once");
    }
    // A write on one side is found by a search on the other straight away.
    await a.upsert(scope, [point({ chunkId: "fresh", text: "zebra crossing policy", vector: [0, 0, 1] })]);
    const found = await b.search(scope, sparse("zebra"));
    assert.equal(found.hits[0]?.point.chunkId, "fresh");
    assert.equal(found.version, 2 * WRITES + 1);
    const deleted = await b.delete(scope, { documentIds: ["d0"], chunkIds: [] });
    assert.equal(deleted.deleted, IDS_PER_WRITE);
    assert.equal((await a.getCollection(scope))?.pointCount, WRITES * IDS_PER_WRITE + 1 - IDS_PER_WRITE);
    assert.deepEqual((await readdir(path.join(dir, "locks"))).filter((f) => f.endsWith(".lock")), [], "no lock left behind");
  } finally {
    await Promise.all([a.close(), b.close()]);
    await rm(dir, { recursive: true, force: true });
  }
});

test("lancedb shared folder: the lock of a process that died mid-write is taken over", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "retrieval-lancedb-stale-"));
  const backend = await LanceBackend.open({ dir });
  try {
    // A pid that existed and is gone now: a short-lived child we waited for.
    const child = spawn(process.execPath, ["-e", ""]);
    const deadPid = await new Promise<number>((resolve) => child.on("exit", () => resolve(child.pid!)));
    await mkdir(path.join(dir, "locks"), { recursive: true });
    await writeFile(path.join(dir, "locks", `${tenantKey(scope.tenant)}.${scope.collection}.lock`), `${hostname()} ${deadPid} left-by-a-crash`);
    const started = Date.now();
    assert.equal((await backend.upsert(scope, batch(0, "after"))).upserted, IDS_PER_WRITE);
    assert.ok(Date.now() - started < 5_000);
  } finally {
    await backend.close();
    await rm(dir, { recursive: true, force: true });
  }
});
