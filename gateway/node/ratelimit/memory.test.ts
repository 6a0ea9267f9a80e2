import { test } from "node:test";
import assert from "node:assert/strict";
import { parseRateLimitConfig } from "./config.js";
import { memoryRateLimiter } from "./memory.js";

/** A clock the test moves by hand, in milliseconds. */
function manualClock(start = 1_700_000_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

const reader = (key: string, tenant = "t1") => ({ key, tenant, role: "READER" });

test("an exhausted burst is refused with Retry-After, then refills over time", async () => {
  const clock = manualClock();
  // burst 3, one token a second.
  const limiter = memoryRateLimiter(parseRateLimitConfig(JSON.stringify({ roles: { READER: { burst: 3, perMinute: 60 } } })), clock.now);
  for (let i = 0; i < 3; i++) assert.equal((await limiter.take(reader("k1"))).allowed, true, `take ${i + 1}`);
  const refused = await limiter.take(reader("k1"));
  assert.equal(refused.allowed, false);
  assert.equal(refused.scope, "key");
  assert.equal(refused.headers["Retry-After"], "1");

  clock.advance(999);
  assert.equal((await limiter.take(reader("k1"))).allowed, false, "not yet a whole token");
  clock.advance(1);
  assert.equal((await limiter.take(reader("k1"))).allowed, true, "one token after a second");
  assert.equal((await limiter.take(reader("k1"))).allowed, false);

  clock.advance(60_000);
  for (let i = 0; i < 3; i++) assert.equal((await limiter.take(reader("k1"))).allowed, true, "refills up to the burst");
  assert.equal((await limiter.take(reader("k1"))).allowed, false, "but never beyond it");
});

test("the hourly cap binds even when the burst has tokens", async () => {
  const clock = manualClock();
  const limiter = memoryRateLimiter(parseRateLimitConfig(JSON.stringify({ roles: { READER: { burst: 10, perMinute: 600, perHour: 3 } } })), clock.now);
  for (let i = 0; i < 3; i++) assert.equal((await limiter.take(reader("k1"))).allowed, true);
  const refused = await limiter.take(reader("k1"));
  assert.equal(refused.allowed, false);
  assert.equal(refused.scope, "key");
  assert.equal(refused.headers["RateLimit-Limit"], "3", "the hour bucket is the binding one");
  assert.equal(refused.headers["RateLimit-Remaining"], "0");
  assert.equal(refused.headers["Retry-After"], "1200", "one hourly token regains every 3600/3 s");

  clock.advance(600_000); // the burst is full again long before this
  assert.equal((await limiter.take(reader("k1"))).allowed, false, "half an hourly token is not enough");
  clock.advance(600_000);
  assert.equal((await limiter.take(reader("k1"))).allowed, true);
});

test("the tenant bucket is shared by the tenant's keys, and other tenants have their own", async () => {
  const clock = manualClock();
  const limiter = memoryRateLimiter(parseRateLimitConfig(JSON.stringify({ tenant: { burst: 3, perMinute: 60 } })), clock.now);
  assert.equal((await limiter.take(reader("a"))).allowed, true);
  assert.equal((await limiter.take(reader("b"))).allowed, true);
  assert.equal((await limiter.take(reader("a"))).allowed, true);
  const refused = await limiter.take(reader("b"));
  assert.equal(refused.allowed, false);
  assert.equal(refused.scope, "tenant");
  assert.equal(refused.headers["RateLimit-Limit"], "3");
  assert.equal(refused.headers["Retry-After"], "1");
  assert.equal((await limiter.take(reader("c"))).allowed, false, "a fresh key of the same tenant is refused too");
  assert.equal((await limiter.take(reader("a", "t2"))).allowed, true, "another tenant is unaffected");
});

test("a refusal takes nothing, from the key or the tenant", async () => {
  const clock = manualClock();
  // READER: burst 2, refilled one a minute; ADMIN: plenty. Tenant: burst 2, one a second.
  const config = parseRateLimitConfig(JSON.stringify({ roles: { READER: { burst: 2, perMinute: 1 } }, tenant: { burst: 2, perMinute: 60 } }));
  const limiter = memoryRateLimiter(config, clock.now);
  const admin = { key: "admin", tenant: "t1", role: "ADMIN" };
  assert.equal((await limiter.take(admin)).allowed, true);
  assert.equal((await limiter.take(admin)).allowed, true);
  for (let i = 0; i < 5; i++) {
    const refused = await limiter.take(reader("r"));
    assert.equal(refused.allowed, false);
    assert.equal(refused.scope, "tenant");
  }
  for (let i = 0; i < 5; i++) assert.equal((await limiter.take(admin)).allowed, false);

  clock.advance(2_000); // the tenant is full again; the reader's key regained nothing to speak of
  const first = await limiter.take(reader("r"));
  assert.equal(first.allowed, true, "the tenant refusals did not spend the reader's key");
  assert.equal((await limiter.take(reader("r"))).allowed, true, "both of the key's tokens were still there");
  const keyRefused = await limiter.take(reader("r"));
  assert.equal(keyRefused.scope, "key");

  clock.advance(60_000); // one key token back; the key's refusals must not have put it in debt
  assert.equal((await limiter.take(reader("r"))).allowed, true);
});

test("headers describe the most constraining bucket and the whole policy", async () => {
  const clock = manualClock();
  const limiter = memoryRateLimiter(parseRateLimitConfig(undefined), clock.now);
  const policy =
    "20;w=10;burst=20;scope=key, 120;w=60;scope=key, 3000;w=3600;scope=key, " +
    "200;w=10;burst=200;scope=tenant, 1200;w=60;scope=tenant, 30000;w=3600;scope=tenant";

  const first = await limiter.take(reader("k"));
  assert.deepEqual(first, {
    allowed: true,
    headers: { "RateLimit-Limit": "20", "RateLimit-Remaining": "19", "RateLimit-Reset": "1", "RateLimit-Policy": policy },
  });
  for (let i = 0; i < 19; i++) await limiter.take(reader("k"));
  const refused = await limiter.take(reader("k"));
  assert.deepEqual(refused, {
    allowed: false,
    scope: "key",
    // Empty burst: full again in 20 / (2 a second) = 10 s; the next token in half a second, rounded up.
    headers: { "RateLimit-Limit": "20", "RateLimit-Remaining": "0", "RateLimit-Reset": "10", "RateLimit-Policy": policy, "Retry-After": "1" },
  });

  clock.advance(5_000);
  const later = await limiter.take(reader("k"));
  assert.equal(later.headers["RateLimit-Remaining"], "9", "10 tokens regained in 5 s, one spent");
  assert.equal(later.headers["RateLimit-Reset"], "6", "11 tokens short of full, 2 a second");

  const costly = await limiter.take(reader("k2"), 5);
  assert.equal(costly.headers["RateLimit-Remaining"], "15", "cost is taken from the buckets");
});

test("roles pick the key's limits; ROLE_ prefixes are accepted", async () => {
  const limiter = memoryRateLimiter(parseRateLimitConfig(undefined), manualClock().now);
  assert.equal((await limiter.take({ key: "e", tenant: "t", role: "EDITOR" })).headers["RateLimit-Limit"], "40");
  assert.equal((await limiter.take({ key: "a", tenant: "t", role: "ROLE_ADMIN" })).headers["RateLimit-Limit"], "100");
});

test("bad input is an error naming the problem", async () => {
  const limiter = memoryRateLimiter(parseRateLimitConfig(undefined), manualClock().now);
  await assert.rejects(limiter.take({ key: "k", tenant: "t", role: "GUEST" }), /unknown role "GUEST"/);
  await assert.rejects(limiter.take({ key: "", tenant: "t", role: "READER" }), /subjects\.key .* must be a non-empty string/);
  await assert.rejects(limiter.take({ key: "k", tenant: "", role: "READER" }), /subjects\.tenant must be a non-empty string/);
  await assert.rejects(limiter.take(reader("k"), 0), /cost must be a positive integer \(got 0\)/);
  await assert.rejects(limiter.take(reader("k"), 1.5), /cost must be a positive integer/);
  await assert.rejects(limiter.take(reader("k"), 21), /cost 21 exceeds the key burst capacity 20/);
  assert.throws(() => memoryRateLimiter(parseRateLimitConfig(undefined), Date.now, { maxSubjects: 0 }), /maxSubjects must be a positive integer/);
});

test("memory is bounded: past maxSubjects the least recently used subject is forgotten", async () => {
  const clock = manualClock();
  const config = parseRateLimitConfig(JSON.stringify({ roles: { READER: { burst: 1, perMinute: 1 } } }));
  // Each take remembers two subjects (key and tenant); room for two.
  const limiter = memoryRateLimiter(config, clock.now, { maxSubjects: 2 });
  assert.equal((await limiter.take(reader("a", "ta"))).allowed, true);
  assert.equal((await limiter.take(reader("a", "ta"))).allowed, false, "remembered while there is room");
  assert.equal((await limiter.take(reader("b", "tb"))).allowed, true);
  assert.equal((await limiter.take(reader("a", "ta"))).allowed, true, "evicted: a forgotten bucket is a full one");
});
