/**
 * Whether each replicated service's store can be shared by several processes, checked before anything
 * starts. A service either coordinates its replicas itself, gets a shared store from the launcher, or the
 * start is refused with why and what to configure instead.
 *
 *   documents, identity, notifications, ingestion: Postgres, shared by every replica; ingestion claims jobs
 *     with a per-worker advisory lock and resumes only a dead worker's jobs (services/ingestion/liveness.ts),
 *     notifications leases deliveries with FOR UPDATE SKIP LOCKED.
 *   embeddings, generation: no state beyond a per-process cache.
 *   retrieval: Qdrant (QDRANT_URL), or the embedded LanceDB folder, which replicas on one machine share:
 *     writes to a collection are serialised across processes by a lock file in the folder and reads check
 *     for other processes' commits (services/retrieval/lancedb/shared-lock.ts).
 *   query: submitted asks (SubmitAsk/GetAsk) and their results live in process memory unless REDIS_URL is
 *     set; another replica would answer NOT_FOUND. Replicas need Redis: REDIS_URL, or a redis-server on
 *     PATH that the launcher starts for them.
 */
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import type { ReplicaCounts } from "./endpoints.js";

export interface ReplicaStores {
  /** Start this redis-server for the query replicas (no REDIS_URL was given). */
  redisServer?: string;
}

export class ReplicaRefusal extends Error {
  override name = "ReplicaRefusal";
}

export function planReplicaStores(replicas: ReplicaCounts, env: NodeJS.ProcessEnv): ReplicaStores {
  if ((replicas.query ?? 1) > 1 && !env.REDIS_URL?.trim()) {
    const redisServer = onPath("redis-server", env.PATH);
    if (!redisServer) {
      throw new ReplicaRefusal(
        `RAG_REPLICAS: query=${replicas.query} needs a store its replicas share: without REDIS_URL, query keeps submitted asks ` +
          `(SubmitAsk/GetAsk) and their results in process memory, so a GetAsk reaching another replica would answer NOT_FOUND. ` +
          `Set REDIS_URL=redis://host:6379, or install redis-server (apt-get install redis-server, brew install redis) and the launcher starts one for the replicas.`,
      );
    }
    return { redisServer };
  }
  return {};
}

export function onPath(name: string, path = process.env.PATH): string | undefined {
  for (const dir of (path ?? "").split(delimiter).filter(Boolean)) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}
