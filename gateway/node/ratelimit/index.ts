/*
 * Rate limiting for the gateway: token buckets per API key (limits by role) and per tenant, each with a burst,
 * a per-minute refill and an hourly cap. In-process by default, shared through Redis when REDIS_URL is set.
 */
import type { RateLimitConfig } from "./config.js";
import type { RateLimiter } from "./limiter.js";
import { memoryRateLimiter } from "./memory.js";
import { redisRateLimiter } from "./redis.js";

export { DEFAULT_RATE_LIMITS, parseRateLimitConfig, ROLES, type Limits, type RateLimitConfig, type RoleName } from "./config.js";
export type { Subjects } from "./buckets.js";
export type { Decision } from "./decision.js";
export type { RateLimiter } from "./limiter.js";
export { memoryRateLimiter, type MemoryRateLimiterOptions } from "./memory.js";
export { redisRateLimiter, type RedisRateLimiterOptions } from "./redis.js";

/** Redis when a URL is given (buckets shared by every gateway replica), in-process otherwise. */
export function createRateLimiter(config: RateLimitConfig, redisUrl?: string, opts: { prefix?: string } = {}): RateLimiter {
  return redisUrl ? redisRateLimiter(config, redisUrl, opts) : memoryRateLimiter(config);
}
