import { Redis } from "ioredis";
import { LRUCache } from "lru-cache";
import { errorFields, log } from "./logger.js";

/**
 * A string key/value cache with expiry: Redis when REDIS_URL is set (shared by every replica), an
 * in-process LRU otherwise. Callers never know which; both honour TTLs and a namespace prefix.
 * A cache failure is a miss, never an error for the caller: the cache makes things faster, not correct.
 */
export interface Cache {
  readonly kind: "redis" | "memory";
  get(key: string): Promise<string | undefined>;
  getMany(keys: string[]): Promise<(string | undefined)[]>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  setMany(entries: [key: string, value: string][], ttlMs: number): Promise<void>;
  delete(key: string): Promise<void>;
  close(): Promise<void>;
}

export interface CacheOptions {
  /** Prefix of every key, e.g. "rag:embeddings:", so services can share one Redis. */
  namespace: string;
  redisUrl?: string;
  /** In-process bound: total characters of keys and values kept. */
  maxChars?: number;
}

export function createCache(opts: CacheOptions): Cache {
  return opts.redisUrl ? new RedisCache(opts.redisUrl, opts.namespace) : new MemoryCache(opts.namespace, opts.maxChars ?? 64 * 1024 * 1024);
}

class MemoryCache implements Cache {
  readonly kind = "memory" as const;
  private readonly lru: LRUCache<string, string>;

  constructor(private readonly ns: string, maxChars: number) {
    this.lru = new LRUCache<string, string>({ maxSize: maxChars, sizeCalculation: (v, k) => v.length + k.length || 1, ttlAutopurge: false });
  }
  async get(key: string) {
    return this.lru.get(this.ns + key);
  }
  async getMany(keys: string[]) {
    return keys.map((k) => this.lru.get(this.ns + k));
  }
  async set(key: string, value: string, ttlMs: number) {
    this.lru.set(this.ns + key, value, { ttl: ttlMs });
  }
  async setMany(entries: [string, string][], ttlMs: number) {
    for (const [k, v] of entries) this.lru.set(this.ns + k, v, { ttl: ttlMs });
  }
  async delete(key: string) {
    this.lru.delete(this.ns + key);
  }
  async close() {
    this.lru.clear();
  }
}

class RedisCache implements Cache {
  readonly kind = "redis" as const;
  private readonly redis: Redis;

  constructor(url: string, private readonly ns: string) {
    // Commands wait for the connection only briefly: when Redis is down a quick miss beats a stalled
    // request (one reconnect attempt per command, and no command outlives commandTimeout).
    this.redis = new Redis(url, { maxRetriesPerRequest: 1, connectTimeout: 2_000, commandTimeout: 1_000 });
    this.redis.on("error", (err) => log.warn("redis cache error", errorFields(err)));
  }
  private async safely<T>(what: string, fallback: T, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      log.warn(`redis cache ${what} failed; treating as a miss`, errorFields(err));
      return fallback;
    }
  }
  get(key: string) {
    return this.safely("get", undefined, async () => (await this.redis.get(this.ns + key)) ?? undefined);
  }
  getMany(keys: string[]) {
    if (keys.length === 0) return Promise.resolve([]);
    return this.safely("mget", keys.map(() => undefined), async () => (await this.redis.mget(keys.map((k) => this.ns + k))).map((v) => v ?? undefined));
  }
  set(key: string, value: string, ttlMs: number) {
    return this.safely("set", undefined, async () => void (await this.redis.set(this.ns + key, value, "PX", Math.max(1, Math.round(ttlMs)))));
  }
  setMany(entries: [string, string][], ttlMs: number) {
    if (entries.length === 0) return Promise.resolve();
    return this.safely("set", undefined, async () => {
      const multi = this.redis.multi();
      for (const [k, v] of entries) multi.set(this.ns + k, v, "PX", Math.max(1, Math.round(ttlMs)));
      await multi.exec();
    });
  }
  delete(key: string) {
    return this.safely("del", undefined, async () => void (await this.redis.del(this.ns + key)));
  }
  async close() {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
