/*
 * The in-process limiter: the embedded default when REDIS_URL is not set. Its buckets are this process's own,
 * so with several gateway replicas each admits its own share; use the Redis limiter there.
 */
import { LRUCache } from "lru-cache";
import { assertAffordable, msUntil, refilled, subjectsOf, validCost, type Subjects } from "./buckets.js";
import type { RateLimitConfig } from "./config.js";
import { admits, decision, policyOf, type BucketLevel, type Decision } from "./decision.js";
import type { RateLimiter } from "./limiter.js";

interface Stored {
  /** Tokens of the burst and hour buckets at `at`. */
  tokens: [number, number];
  at: number;
}

export interface MemoryRateLimiterOptions {
  /** Most subjects (keys + tenants) remembered; default 100 000. */
  maxSubjects?: number;
}

/**
 * `now` is the clock in milliseconds (tests inject one). Memory stays bounded two ways: a subject's entry expires
 * (by that same clock) once its buckets would be full again, since a full bucket and no entry mean the same; and
 * past `maxSubjects` the least recently used entry goes, which forgives that subject's spent tokens — the price
 * of a bound, paid by the idlest caller.
 */
export function memoryRateLimiter(config: RateLimitConfig, now: () => number = Date.now, opts: MemoryRateLimiterOptions = {}): RateLimiter {
  const maxSubjects = opts.maxSubjects ?? 100_000;
  if (!Number.isSafeInteger(maxSubjects) || maxSubjects <= 0) throw new Error(`memoryRateLimiter: maxSubjects must be a positive integer (got ${maxSubjects})`);
  const store = new LRUCache<string, Stored>({ max: maxSubjects, perf: { now }, ttlResolution: 0, ttlAutopurge: false });

  return {
    async take(who: Subjects, cost = 1): Promise<Decision> {
      validCost(cost);
      const subjects = subjectsOf(config, who);
      assertAffordable(subjects, cost);
      const at = now();
      // Everything below is synchronous, so no other take can interleave: check-and-take is atomic.
      const levels = subjects.map((s) => {
        const stored = store.get(s.name);
        return s.buckets.map((bucket, i): BucketLevel => ({ bucket, tokens: stored ? refilled(bucket, stored.tokens[i]!, at - stored.at) : bucket.capacity }));
      });
      const allowed = admits(levels.flat(), cost);
      if (allowed) {
        subjects.forEach((s, i) => {
          const [burst, hour] = levels[i] as [BucketLevel, BucketLevel];
          burst.tokens -= cost;
          hour.tokens -= cost;
          const fullInMs = Math.max(msUntil(burst.bucket, burst.tokens, burst.bucket.capacity), msUntil(hour.bucket, hour.tokens, hour.bucket.capacity));
          store.set(s.name, { tokens: [burst.tokens, hour.tokens], at }, { ttl: Math.max(1, Math.ceil(fullInMs)) });
        });
      }
      return decision(allowed, levels.flat(), cost, policyOf(subjects));
    },
    async close() {
      store.clear();
    },
  };
}
