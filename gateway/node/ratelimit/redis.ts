/*
 * The Redis limiter: every gateway replica shares the same buckets. One Lua script reads, checks and takes from
 * all four buckets (key burst/hour, tenant burst/hour) in a single atomic step, on the Redis server's clock (TIME),
 * so replicas with skewed clocks still agree. ioredis's defineCommand runs it by EVALSHA and falls back to EVAL
 * when the server does not have it cached (NOSCRIPT).
 *
 * Storage: one hash per subject, `<prefix>key:<apiKeyId>` and `<prefix>tenant:<tenantId>`, fields b (burst tokens),
 * h (hour tokens), t (server time in ms). A key expires (PEXPIRE) when its buckets would be full again, since no
 * key means full buckets. (The two keys of one call are unrelated, so under Redis Cluster they would need a
 * shared hash tag; this limiter targets a single Redis or a primary with replicas.)
 *
 * When Redis fails, the limiter FAILS OPEN: the request is admitted, without Limit/Remaining/Reset headers, and a
 * warning is logged (at most one every 30 s, with a count of the requests admitted unchecked). Rate limiting
 * protects the services; it must not become the reason the gateway is down when Redis is.
 */
import { Redis } from "ioredis";
import { errorFields, log } from "#mesh/logger.js";
import { assertAffordable, subjectsOf, validCost, type Bucket, type Subjects } from "./buckets.js";
import type { RateLimitConfig } from "./config.js";
import { decision, policyOf, type BucketLevel, type Decision } from "./decision.js";
import type { RateLimiter } from "./limiter.js";

/*
 * KEYS[1], KEYS[2]: the key's and the tenant's hash. ARGV[1]: cost. Then per subject, per bucket (burst, hour):
 * capacity, refill, periodMs — ARGV[2..7] for KEYS[1], ARGV[8..13] for KEYS[2].
 * Returns {admitted 0|1, tokens of key burst, key hour, tenant burst, tenant hour} — the tokens after the take
 * when admitted, untouched when refused — as strings, because Redis would truncate Lua numbers to integers.
 * The arithmetic mirrors buckets.ts.
 */
const TAKE_SCRIPT = `
if redis.replicate_commands then redis.replicate_commands() end -- TIME before writes: needed before Redis 5
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
local cost = tonumber(ARGV[1])
local fields = {'b', 'h'}
local levels = {}
local admitted = true
for s = 1, 2 do
  local stored = redis.call('HMGET', KEYS[s], 'b', 'h', 't')
  local at = tonumber(stored[3])
  for b = 1, 2 do
    local arg = 2 + (s - 1) * 6 + (b - 1) * 3
    local capacity, refill, period = tonumber(ARGV[arg]), tonumber(ARGV[arg + 1]), tonumber(ARGV[arg + 2])
    local tokens = tonumber(stored[b])
    if tokens == nil or at == nil then
      tokens = capacity
    else
      tokens = math.min(capacity, tokens + math.max(0, now - at) * refill / period)
    end
    levels[(s - 1) * 2 + b] = tokens
    if tokens < cost then admitted = false end
  end
end
if admitted then
  for s = 1, 2 do
    local fullIn = 0
    local hash = {}
    for b = 1, 2 do
      local arg = 2 + (s - 1) * 6 + (b - 1) * 3
      local capacity, refill, period = tonumber(ARGV[arg]), tonumber(ARGV[arg + 1]), tonumber(ARGV[arg + 2])
      local i = (s - 1) * 2 + b
      levels[i] = levels[i] - cost
      fullIn = math.max(fullIn, (capacity - levels[i]) * period / refill)
      hash[#hash + 1] = fields[b]
      hash[#hash + 1] = string.format('%.17g', levels[i])
    end
    redis.call('HSET', KEYS[s], hash[1], hash[2], hash[3], hash[4], 't', string.format('%.17g', now))
    redis.call('PEXPIRE', KEYS[s], math.max(1, math.ceil(fullIn)))
  end
end
local out = {admitted and 1 or 0}
for i = 1, 4 do out[i + 1] = string.format('%.17g', levels[i]) end
return out
`;

type TakeReply = [admitted: number, ...tokens: string[]];
type RedisWithTake = Redis & { rateLimitTake(keyHash: string, tenantHash: string, ...args: (string | number)[]): Promise<TakeReply> };

export interface RedisRateLimiterOptions {
  /** Prefix of every key, so the gateway can share a Redis; default "rag:ratelimit:". */
  prefix?: string;
}

const WARN_EVERY_MS = 30_000;

export function redisRateLimiter(config: RateLimitConfig, redisUrl: string, opts: RedisRateLimiterOptions = {}): RateLimiter {
  if (typeof redisUrl !== "string" || !/^rediss?:\/\//.test(redisUrl)) {
    throw new Error(`redisRateLimiter: redisUrl must be a redis:// or rediss:// URL (got ${JSON.stringify(redisUrl)})`);
  }
  const prefix = opts.prefix ?? "rag:ratelimit:";
  // Commands wait for a connection only briefly: when Redis is down, admitting quickly (failing open) beats
  // stalling every request (one reconnect attempt per command, and none outlives commandTimeout).
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, connectTimeout: 2_000, commandTimeout: 1_000 }) as RedisWithTake;
  redis.defineCommand("rateLimitTake", { numberOfKeys: 2, lua: TAKE_SCRIPT });
  redis.on("error", (err) => log.debug("rate limit redis connection error", errorFields(err)));

  let lastWarnAt = -Infinity;
  let uncheckedSinceWarn = 0;
  const failOpen = (err: unknown, policy: string): Decision => {
    uncheckedSinceWarn++;
    if (Date.now() - lastWarnAt >= WARN_EVERY_MS) {
      log.warn("rate limit: Redis failed; admitting requests unchecked (failing open)", { ...errorFields(err), admitted_unchecked: uncheckedSinceWarn });
      lastWarnAt = Date.now();
      uncheckedSinceWarn = 0;
    }
    return { allowed: true, headers: { "RateLimit-Policy": policy } };
  };

  return {
    async take(who: Subjects, cost = 1): Promise<Decision> {
      validCost(cost);
      const subjects = subjectsOf(config, who);
      assertAffordable(subjects, cost);
      const buckets: Bucket[] = subjects.flatMap((s) => s.buckets);
      const policy = policyOf(subjects);
      let reply: TakeReply;
      try {
        reply = await redis.rateLimitTake(
          prefix + subjects[0].name,
          prefix + subjects[1].name,
          cost,
          ...buckets.flatMap((b) => [b.capacity, b.refill, b.periodMs]),
        );
      } catch (err) {
        return failOpen(err, policy);
      }
      const levels: BucketLevel[] = buckets.map((bucket, i) => ({ bucket, tokens: Number(reply[i + 1]) }));
      if (levels.some((l) => !Number.isFinite(l.tokens))) return failOpen(new Error(`unexpected script reply ${JSON.stringify(reply)}`), policy);
      return decision(reply[0] === 1, levels, cost, policy);
    },
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
