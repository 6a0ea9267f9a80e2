import { status } from "@grpc/grpc-js";
import { AskResponse } from "#gen/rag/v1/query.js";
import type { Cache } from "#mesh/cache.js";
import { isServiceError } from "#mesh/errors.js";
import { errorFields, log } from "#mesh/logger.js";
import { answerCacheKey } from "./cache-key.js";
import type { Dependencies } from "./dependencies.js";
import type { AskPlan } from "./plan.js";

export interface CacheLookup {
  /** The stored answer, when there is one for the collection's current version. */
  hit: AskResponse | undefined;
}

/**
 * Answers kept per (tenant, question, options, collection version); see cache-key.ts for the key. Like the
 * cache beneath it, it only ever makes asks faster: any failure here is a miss, never an error.
 */
export class AnswerCache {
  constructor(
    private readonly cache: Cache,
    private readonly retrieval: Dependencies["retrieval"],
    private readonly opts: { ttlMs: number; embeddingModel: string },
  ) {}

  async lookup(tenant: string, plan: AskPlan): Promise<CacheLookup> {
    const version = await this.collectionVersion(plan.collection);
    if (version === undefined) return { hit: undefined };
    const stored = await this.cache.get(answerCacheKey(tenant, plan, version, this.opts.embeddingModel));
    if (stored === undefined) return { hit: undefined };
    try {
      return { hit: AskResponse.decode(Buffer.from(stored, "base64")) };
    } catch (err) {
      log.warn("unreadable answer cache entry; treating as a miss", errorFields(err));
      return { hit: undefined };
    }
  }

  /**
   * Stores under the version the search itself reported, not the one looked up before it: if the collection
   * changed in between, the answer belongs to the newer contents.
   */
  async store(tenant: string, plan: AskPlan, searchedVersion: string, response: AskResponse): Promise<void> {
    const value = Buffer.from(AskResponse.encode(response).finish()).toString("base64");
    await this.cache.set(answerCacheKey(tenant, plan, searchedVersion, this.opts.embeddingModel), value, this.opts.ttlMs);
  }

  /** "0" for a collection that does not exist (as Search reports it); undefined when it cannot be known. */
  private async collectionVersion(collection: string): Promise<string | undefined> {
    try {
      const { collection: found } = await this.retrieval.getCollection({ collection });
      return found?.version ?? "0";
    } catch (err) {
      if (isServiceError(err) && err.code === status.NOT_FOUND) return "0";
      // Without the version a stored answer could be stale; skip the cache and let the search speak.
      log.warn("collection version unknown; answer cache skipped", { collection, ...errorFields(err) });
      return undefined;
    }
  }
}
