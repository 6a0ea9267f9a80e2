import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { status } from "@grpc/grpc-js";
import {
  DeleteRequest,
  GetCollectionRequest,
  ListCollectionsRequest,
  RetrievalServiceClient,
  SearchMode,
  SearchRequest,
  UpsertRequest,
  type Point,
} from "#gen/rag/v1/retrieval.js";
import { serviceNodeArgs } from "#mesh/catalogue.js";
import type { PromiseClient } from "#mesh/client.js";
import { errorDetails } from "#mesh/errors.js";
import { rejection } from "#testing/grpc.js";
import { startServiceProcess, type ServiceProcess } from "#testing/service-process.js";
import { runtime } from "#testing/runtime.js";

type Retrieval = PromiseClient<typeof RetrievalServiceClient.service>;

let dir: string;
let service: ServiceProcess;
const clients: Retrieval[] = [];

function as(tenant: string | undefined): Retrieval {
  const c = runtime.connect(RetrievalServiceClient, "retrieval", { target: service.address, metadata: tenant ? { "x-tenant-id": tenant } : {} });
  clients.push(c);
  return c;
}


async function expectInvalid(p: Promise<unknown>, field: string, pattern?: RegExp): Promise<void> {
  const err = await rejection(p);
  assert.equal(err.code, status.INVALID_ARGUMENT, `expected INVALID_ARGUMENT, got ${status[err.code]}: ${err.details}`);
  assert.equal(errorDetails(err).field, field, err.details);
  if (pattern) assert.match(err.details, pattern);
}

const pt = (p: Partial<Point>): Point => ({ chunkId: "", documentId: "", vector: [], text: "", title: "", sourceUri: "", headingPath: [], chunkIndex: 0, tags: [], metadata: {}, documentTime: undefined, ...p });

const start = () => startServiceProcess("retrieval", { RETRIEVAL_DATA_DIR: path.join(dir, "index"), RETRIEVAL_RRF_K: "60", RETRIEVAL_DENSE_WEIGHT: "1" });

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "retrieval-service-"));
  service = await start();
});

after(async () => {
  clients.forEach((c) => c.close());
  const code = await service?.stop();
  await rm(dir, { recursive: true, force: true });
  assert.equal(code, 0, "retrieval exits cleanly on SIGTERM");
});

describe("retrieval over gRPC, embedded index", () => {
  const points = [
    pt({ chunkId: "c1", documentId: "d1", vector: [1, 0, 0], text: "The Norman conquest of England began in 1066.", title: "Normans", tags: ["history"], metadata: { era: "medieval", year: "1066" }, documentTime: new Date("2020-01-02T03:04:05.678Z"), headingPath: ["Normans", "Conquest"], chunkIndex: 2 }),
    pt({ chunkId: "c2", documentId: "d1", vector: [0.8, 0.6, 0], text: "William the Conqueror was crowned at Westminster.", title: "Normans", tags: ["history"], metadata: { era: "medieval", year: "1066" } }),
    pt({ chunkId: "c3", documentId: "d2", vector: [0, 0, 1], text: "Photosynthesis turns light into chemical energy.", title: "Plants", tags: ["biology"], metadata: { era: "modern" } }),
  ];

  test("upsert, search in each mode, read the collection, delete", async () => {
    const c = as("acme");
    const up = await c.upsert(UpsertRequest.fromPartial({ points }));
    assert.deepEqual(up, { upsertedCount: 3, collectionVersion: "1" });

    const hybrid = await c.search(SearchRequest.fromPartial({ query: "When did the Norman conquest begin?", vector: [1, 0.1, 0], topK: 2 }));
    assert.equal(hybrid.mode, SearchMode.SEARCH_MODE_HYBRID);
    assert.equal(hybrid.collectionVersion, "1");
    assert.equal(hybrid.hits.length, 2);
    const top = hybrid.hits[0]!;
    assert.equal(top.point?.chunkId, "c1");
    assert.deepEqual([top.rank, top.denseRank, top.sparseRank], [1, 1, 1]);
    assert.ok(Math.abs(top.score - 2 / 61) < 1e-9, "fused score with k = 60, equal weights (set in the env)");
    assert.ok(top.sparseScore > 0 && top.denseScore > 0.99);
    assert.deepEqual(top.point?.vector, [], "vectors only on request");
    assert.deepEqual(top.point?.documentTime, new Date("2020-01-02T03:04:05.678Z"));
    assert.deepEqual(top.point?.headingPath, ["Normans", "Conquest"]);
    assert.deepEqual(top.point?.metadata, { era: "medieval", year: "1066" });
    assert.equal(top.point?.chunkIndex, 2);

    const onlyText = await c.search(SearchRequest.fromPartial({ query: "photosynthesis light", mode: SearchMode.SEARCH_MODE_HYBRID }));
    assert.equal(onlyText.mode, SearchMode.SEARCH_MODE_SPARSE, "hybrid without a vector degrades to sparse and says so");
    assert.deepEqual(onlyText.hits.map((h) => h.point?.chunkId), ["c3"]);
    const dense = await c.search(SearchRequest.fromPartial({ vector: [0, 0, 1], mode: SearchMode.SEARCH_MODE_DENSE, includeVectors: true, topK: 1 }));
    assert.equal(dense.mode, SearchMode.SEARCH_MODE_DENSE);
    assert.deepEqual(dense.hits[0]?.point?.vector, [0, 0, 1]);
    assert.equal(dense.hits[0]?.score, dense.hits[0]?.denseScore);

    const filtered = await c.search(SearchRequest.fromPartial({ vector: [1, 0, 0], filter: { tags: ["biology"], metadata: { era: "modern" } } }));
    assert.deepEqual(filtered.hits.map((h) => h.point?.chunkId), ["c3"]);
    const ranged = await c.search(SearchRequest.fromPartial({ query: "Norman William", filter: { numericRanges: [{ key: "year", gte: 1000, lt: 1100 }], timeRanges: [{ startTime: new Date("2019-01-01T00:00:00Z") }] } }));
    assert.deepEqual(ranged.hits.map((h) => h.point?.chunkId), ["c1"]);
    const strict = await c.search(SearchRequest.fromPartial({ vector: [1, 0, 0], minScore: 0.9 }));
    assert.deepEqual(strict.hits.map((h) => h.point?.chunkId), ["c1"], "min_score drops weaker hits");

    const { collection } = await c.getCollection(GetCollectionRequest.fromPartial({}));
    assert.equal(collection?.name, "default");
    assert.equal(collection?.tenantId, "acme");
    assert.deepEqual([collection?.pointCount, collection?.documentCount, collection?.dimensions, collection?.version], ["3", "2", 3, "1"]);
    assert.ok(collection?.createTime instanceof Date && collection.updateTime instanceof Date);

    const del = await c.delete(DeleteRequest.fromPartial({ documentIds: ["d1"] }));
    assert.deepEqual(del, { deletedCount: "2", collectionVersion: "2" });
    const none = await c.delete(DeleteRequest.fromPartial({ documentIds: ["d1"] }));
    assert.deepEqual(none, { deletedCount: "0", collectionVersion: "2" }, "nothing removed: version unchanged");
  });

  test("bad requests name the field", async () => {
    const c = as("acme");
    const p = points[0]!;
    await expectInvalid(c.upsert(UpsertRequest.fromPartial({ collection: "Bad Name", points: [p] })), "collection", /a-z, 0-9/);
    await expectInvalid(c.upsert(UpsertRequest.fromPartial({ points: [] })), "points");
    await expectInvalid(c.upsert(UpsertRequest.fromPartial({ points: [p, { ...p, chunkId: "x", text: " " }] })), "points[1].text");
    await expectInvalid(c.upsert(UpsertRequest.fromPartial({ points: [{ ...p, chunkId: "" }] })), "points[0].chunk_id");
    await expectInvalid(c.upsert(UpsertRequest.fromPartial({ points: [{ ...p, documentId: "" }] })), "points[0].document_id");
    await expectInvalid(c.upsert(UpsertRequest.fromPartial({ points: [{ ...p, vector: [0, 0, 0] }] })), "points[0].vector", /zero vector/);
    await expectInvalid(c.upsert(UpsertRequest.fromPartial({ points: [p, { ...p, chunkId: "c9", vector: [1, 2] }] })), "points[1].vector");
    await expectInvalid(c.upsert(UpsertRequest.fromPartial({ points: [p, { ...p }] })), "points[1].chunk_id", /duplicates/);
    await expectInvalid(c.upsert(UpsertRequest.fromPartial({ points: [{ ...p, chunkId: "new", vector: [1, 2, 3, 4] }] })), "points[0].vector", /3-dimensional/);
    await expectInvalid(c.search(SearchRequest.fromPartial({})), "query");
    await expectInvalid(c.search(SearchRequest.fromPartial({ query: "x", mode: SearchMode.SEARCH_MODE_DENSE })), "vector");
    await expectInvalid(c.search(SearchRequest.fromPartial({ vector: [1, 0, 0], mode: SearchMode.SEARCH_MODE_SPARSE })), "query");
    await expectInvalid(c.search(SearchRequest.fromPartial({ query: "x", topK: 101 })), "top_k", /at most 100/);
    await expectInvalid(c.search(SearchRequest.fromPartial({ vector: [1, 0] })), "vector", /3-dimensional/);
    await expectInvalid(c.search(SearchRequest.fromPartial({ query: "x", filter: { numericRanges: [{ key: "" }] } })), "filter.numeric_ranges[0].key");
    await expectInvalid(c.search(SearchRequest.fromPartial({ query: "x", filter: { timeRanges: [{ startTime: new Date(2000), endTime: new Date(1000) }] } })), "filter.time_ranges[0].end_time");
    await expectInvalid(c.delete(DeleteRequest.fromPartial({})), "document_ids");
    await expectInvalid(c.listCollections(ListCollectionsRequest.fromPartial({ pageToken: "garbage" })), "page_token");

    const anonymous = await rejection(as(undefined).search(SearchRequest.fromPartial({ query: "x" })));
    assert.equal(anonymous.code, status.UNAUTHENTICATED);
    const missing = await rejection(c.getCollection(GetCollectionRequest.fromPartial({ collection: "nope" })));
    assert.equal(missing.code, status.NOT_FOUND);
    const empty = await c.search(SearchRequest.fromPartial({ collection: "nope", query: "anything" }));
    assert.deepEqual([empty.hits.length, empty.collectionVersion], [0, "0"], "a missing collection searches as an empty one");
  });

  test("tenants see only their own collections; pages of collections", async () => {
    const mine = as("lister");
    for (const name of ["c-3", "c-1", "c-2"]) await mine.upsert(UpsertRequest.fromPartial({ collection: name, points: [points[2]!] }));
    const first = await mine.listCollections(ListCollectionsRequest.fromPartial({ pageSize: 2 }));
    assert.deepEqual(first.collections.map((c) => c.name), ["c-1", "c-2"]);
    const second = await mine.listCollections(ListCollectionsRequest.fromPartial({ pageSize: 2, pageToken: first.nextPageToken }));
    assert.deepEqual(second.collections.map((c) => c.name), ["c-3"]);
    assert.equal(second.nextPageToken, "");
    const other = as("someone-else");
    assert.deepEqual((await other.listCollections(ListCollectionsRequest.fromPartial({}))).collections, []);
    assert.equal((await other.search(SearchRequest.fromPartial({ collection: "c-1", query: "photosynthesis" }))).hits.length, 0);
  });

  test("the version survives a restart of the process", async () => {
    const c = as("restart");
    await c.upsert(UpsertRequest.fromPartial({ collection: "kept", points }));
    await c.delete(DeleteRequest.fromPartial({ collection: "kept", chunkIds: ["c3"] }));
    clients.forEach((x) => x.close());
    clients.length = 0;
    assert.equal(await service.stop(), 0);
    service = await start();
    const again = as("restart");
    const { collection } = await again.getCollection(GetCollectionRequest.fromPartial({ collection: "kept" }));
    assert.deepEqual([collection?.version, collection?.pointCount], ["2", "2"]);
    assert.equal((await again.upsert(UpsertRequest.fromPartial({ collection: "kept", points: [points[2]!] }))).collectionVersion, "3");
  });
});

describe("retrieval configuration", () => {
  test("an index folder it cannot create stops start-up naming the variable (exit 78)", async () => {
    const file = path.join(dir, "not-a-folder");
    await writeFile(file, "x");
    const child = spawn(process.execPath, serviceNodeArgs("retrieval"), {
      cwd: path.resolve(import.meta.dirname, "../.."),
      env: { ...process.env, RETRIEVAL_DATA_DIR: path.join(file, "index"), GRPC_PORT: "0", ADMIN_PORT: "0" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (d) => (stderr += String(d)));
    const [code] = (await once(child, "exit")) as [number | null];
    assert.equal(code, 78, stderr);
    assert.match(stderr, /RETRIEVAL_DATA_DIR: cannot create or write/);
  });
});
