import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { connect } from "@lancedb/lancedb";
import { backendContract, point } from "../backend.contract.js";
import { LanceBackend } from "./backend.js";
import { tenantKey } from "./catalog.js";

backendContract("lancedb", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "retrieval-lancedb-"));
  return {
    // Optimise often, so the suite also runs against compacted tables with up-to-date indexes.
    open: () => LanceBackend.open({ dir, optimizeEvery: 3 }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

test("lancedb: a write that committed but was never recorded (a crash in between) still moves the version", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "retrieval-lancedb-crash-"));
  try {
    const scope = { tenant: "acme", collection: "docs" };
    const first = await LanceBackend.open({ dir });
    await first.upsert(scope, [point({ text: "before the crash", vector: [1, 0] })]);
    await first.close();

    // What a process that died right after LanceDB's commit leaves behind: rows written, catalog unchanged.
    const db = await connect(dir);
    const table = await db.openTable(`${tenantKey(scope.tenant)}.${scope.collection}`);
    await table.delete("true");
    table.close();
    db.close();

    const second = await LanceBackend.open({ dir });
    const info = await second.getCollection(scope);
    assert.equal(info?.version, 2, "contents changed, so the version did too");
    assert.equal(info?.pointCount, 0);
    assert.equal((await second.upsert(scope, [point({ text: "after", vector: [0, 1] })])).version, 3);
    await second.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
