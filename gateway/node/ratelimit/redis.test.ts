/*
 * The Redis limiter against a real Redis (REDIS_URL; skipped without one). Redis keeps time by its own clock,
 * so these tests cannot move it: they use rates slow enough that the milliseconds a test takes refill nothing
 * that matters, and wait (bounded, by polling) where refill is the point.
 */
import { describe, mock, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { log } from "#mesh/logger.js";
import { parseRateLimitConfig } from "./config.js";
import type { RateLimiter } from "./limiter.js";
import { redisRateLimiter } from "./redis.js";

const url = process.env.REDIS_URL;
const reader = (key: string, tenant = "t1") => ({ key, tenant, role: "READER" });

/** A limiter with its own key prefix (so runs and tests never share buckets), closed after `fn`. */
async function withLimiter(overrides: object, fn: (limiter: RateLimiter, prefix: string) => Promise<void>): Promise<void> {
  const prefix = `test:ratelimit:${randomUUID()}:`;
  const limiter = redisRateLimiter(parseRateLimitConfig(JSON.stringify(overrides)), url!, { prefix });
  try {
    await fn(limiter, prefix);
  } finally {
    await limiter.close();
  }
}

describe("redis rate limiter", { skip: url ? false : "REDIS_URL not set" }, () => {
  test("an exhausted burst is refused with Retry-After, then refills over time", async () => {
    // burst 2, ten tokens a second.
    await withLimiter({ roles: { READER: { burst: 2, perMinute: 600 } } }, async (limiter) => {
      assert.equal((await limiter.take(reader("k"))).allowed, true);
      assert.equal((await limiter.take(reader("k"))).allowed, true);
      const refused = await limiter.take(reader("k"));
      if (refused.allowed) return assert.fail("a third take within a tenth of a second should be refused");
      assert.equal(refused.scope, "key");
      assert.equal(refused.headers["Retry-After"], "1");
      assert.equal(refused.headers["RateLimit-Limit"], "2");
      const deadline = Date.now() + 5_000;
      let later = await limiter.take(reader("k"));
      while (!later.allowed && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 25));
        later = await limiter.take(reader("k"));
      }
      assert.equal(later.allowed, true, "a token comes back with time");
    });
  });

  test("the hourly cap binds even when the burst has tokens", async () => {
    await withLimiter({ roles: { READER: { burst: 10, perMinute: 600, perHour: 3 } } }, async (limiter) => {
      for (let i = 0; i < 3; i++) assert.equal((await limiter.take(reader("k"))).allowed, true);
      const refused = await limiter.take(reader("k"));
      assert.equal(refused.allowed, false);
      assert.equal(refused.scope, "key");
      assert.equal(refused.headers["RateLimit-Limit"], "3");
      assert.equal(refused.headers["RateLimit-Remaining"], "0");
      assert.equal(refused.headers["Retry-After"], "1200");
    });
  });

  test("the tenant bucket is shared by the tenant's keys", async () => {
    await withLimiter({ tenant: { burst: 3, perMinute: 1 } }, async (limiter) => {
      assert.equal((await limiter.take(reader("a"))).allowed, true);
      assert.equal((await limiter.take(reader("b"))).allowed, true);
      assert.equal((await limiter.take(reader("a"))).allowed, true);
      const refused = await limiter.take(reader("b"));
      assert.equal(refused.allowed, false);
      assert.equal(refused.scope, "tenant");
      assert.equal(refused.headers["RateLimit-Limit"], "3");
      assert.equal(refused.headers["Retry-After"], "60");
      assert.equal((await limiter.take(reader("a", "t2"))).allowed, true, "another tenant is unaffected");
    });
  });

  test("a refusal takes nothing and writes nothing; stored buckets expire when full again", async () => {
    await withLimiter({ roles: { READER: { burst: 2, perMinute: 1 } }, tenant: { burst: 2, perMinute: 1 } }, async (limiter, prefix) => {
      const redis = new Redis(url!);
      try {
        const admin = { key: "admin", tenant: "t1", role: "ADMIN" };
        assert.equal((await limiter.take(admin)).allowed, true);
        assert.equal((await limiter.take(admin)).allowed, true);
        const tenantBefore = await redis.hgetall(`${prefix}tenant:t1`);
        for (let i = 0; i < 5; i++) assert.equal((await limiter.take(reader("r"))).scope, "tenant");
        assert.deepEqual(await redis.hgetall(`${prefix}tenant:t1`), tenantBefore, "refusals leave the tenant as it was");
        assert.equal(await redis.exists(`${prefix}key:r`), 0, "the refused key's buckets were never written");

        const ttl = await redis.pttl(`${prefix}tenant:t1`);
        assert.ok(ttl > 0 && ttl <= 3_600_000, `the tenant hash expires when its buckets are full again (pttl ${ttl})`);
        assert.deepEqual(Object.keys(tenantBefore).sort(), ["b", "h", "t"]);
      } finally {
        redis.disconnect();
      }
    });
  });

  test("headers describe the most constraining bucket and the whole policy", async () => {
    await withLimiter({}, async (limiter) => {
      const first = await limiter.take(reader("k"));
      assert.deepEqual(first, {
        allowed: true,
        headers: {
          "RateLimit-Limit": "20",
          "RateLimit-Remaining": "19",
          "RateLimit-Reset": "1",
          "RateLimit-Policy":
            "20;w=10;burst=20;scope=key, 120;w=60;scope=key, 3000;w=3600;scope=key, " +
            "200;w=10;burst=200;scope=tenant, 1200;w=60;scope=tenant, 30000;w=3600;scope=tenant",
        },
      });
      const costly = await limiter.take(reader("k2"), 5);
      assert.equal(costly.headers["RateLimit-Remaining"], "15");
    });
  });

  test("atomic: 50 concurrent takes on a burst of 10 admit exactly 10", async () => {
    await withLimiter({ roles: { READER: { burst: 10, perMinute: 1 } } }, async (limiter) => {
      const decisions = await Promise.all(Array.from({ length: 50 }, () => limiter.take(reader("k"))));
      assert.equal(decisions.filter((d) => d.allowed).length, 10);
      assert.ok(decisions.filter((d) => !d.allowed).every((d) => d.scope === "key" && d.headers["Retry-After"] === "60"));
    });
  });

  test("keeps working after the server forgets the script (EVALSHA falls back to EVAL)", async () => {
    await withLimiter({ roles: { READER: { burst: 2, perMinute: 1 } } }, async (limiter) => {
      const redis = new Redis(url!);
      try {
        assert.equal((await limiter.take(reader("k"))).allowed, true);
        await redis.script("FLUSH");
        assert.equal((await limiter.take(reader("k"))).allowed, true);
        assert.equal((await limiter.take(reader("k"))).allowed, false, "and the buckets survived");
      } finally {
        redis.disconnect();
      }
    });
  });

  test("limiters on different prefixes do not share buckets", async () => {
    await withLimiter({ roles: { READER: { burst: 1, perMinute: 1 } } }, async (one) => {
      await withLimiter({ roles: { READER: { burst: 1, perMinute: 1 } } }, async (two) => {
        assert.equal((await one.take(reader("k"))).allowed, true);
        assert.equal((await two.take(reader("k"))).allowed, true);
        assert.equal((await one.take(reader("k"))).allowed, false);
      });
    });
  });
});

test("redis rate limiter, Redis down: fails open with a logged warning", async () => {
  const warn = mock.method(log, "warn");
  const limiter = redisRateLimiter(parseRateLimitConfig(undefined), "redis://127.0.0.1:1", { prefix: `test:ratelimit:${randomUUID()}:` });
  try {
    const decision = await limiter.take(reader("k"));
    assert.equal(decision.allowed, true, "an unreachable Redis admits rather than taking the gateway down");
    assert.equal(decision.scope, undefined);
    assert.ok(decision.headers["RateLimit-Policy"]?.startsWith("20;w=10;burst=20;scope=key"));
    assert.equal(decision.headers["RateLimit-Remaining"], undefined, "no counts it does not know");
    assert.ok(warn.mock.calls.some((c) => String(c.arguments[0]).includes("failing open")), "the failure is logged");
    await assert.rejects(limiter.take({ key: "k", tenant: "t", role: "nobody" }), /unknown role/, "bad input is still an error");
  } finally {
    warn.mock.restore();
    await limiter.close();
  }
});

test("redis rate limiter: a bad URL is an error", () => {
  assert.throws(() => redisRateLimiter(parseRateLimitConfig(undefined), "127.0.0.1:6379"), /redisUrl must be a redis:\/\/ or rediss:\/\/ URL/);
});
