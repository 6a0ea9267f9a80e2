import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createCache } from "./cache.js";

const backends = [
  { name: "memory", redisUrl: undefined as string | undefined, skip: false as string | false },
  { name: "redis", redisUrl: process.env.REDIS_URL, skip: process.env.REDIS_URL ? (false as const) : "REDIS_URL not set" },
];

for (const backend of backends) {
  describe(`cache (${backend.name})`, { skip: backend.skip }, () => {
    test("get/set/delete, batches, namespaces and expiry", async () => {
      const ns = `test:${randomUUID()}:`;
      const cache = createCache({ namespace: ns, redisUrl: backend.redisUrl });
      const other = createCache({ namespace: `${ns}other:`, redisUrl: backend.redisUrl });
      try {
        assert.equal(cache.kind, backend.name);
        assert.equal(await cache.get("a"), undefined);
        await cache.set("a", "1", 60_000);
        assert.equal(await cache.get("a"), "1");
        assert.equal(await other.get("a"), undefined, "namespaces do not see each other");
        await cache.setMany([["b", "2"], ["c", "3"]], 60_000);
        assert.deepEqual(await cache.getMany(["a", "b", "x", "c"]), ["1", "2", undefined, "3"]);
        await cache.delete("a");
        assert.equal(await cache.get("a"), undefined);
        await cache.set("short", "gone soon", 30);
        // Expiry is the cache's own clock: wait past it by polling the key itself (bounded).
        const deadline = Date.now() + 5_000;
        while ((await cache.get("short")) !== undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        assert.equal(await cache.get("short"), undefined, "entries expire");
      } finally {
        await cache.close();
        await other.close();
      }
    });
  });
}

test("cache (redis down): a failing Redis is a miss, not an error", async () => {
  const cache = createCache({ namespace: "down:", redisUrl: "redis://127.0.0.1:1" });
  try {
    assert.equal(await cache.get("k"), undefined);
    await cache.set("k", "v", 1000);
    assert.deepEqual(await cache.getMany(["k"]), [undefined]);
  } finally {
    await cache.close();
  }
});
