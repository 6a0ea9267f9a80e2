/**
 * Test double of the retrieval service: rag.v1.RetrievalService as proto/rag/v1/retrieval.proto defines it,
 * served over real gRPC (testing/fakes/set.ts starts it). Search answers from a fixed corpus (CORPUS), and
 * collections have versions as the contract describes: GetCollection of an unknown collection is NOT_FOUND,
 * Search reports version "0" for it, and every Upsert or Delete moves a collection to a new version. Every
 * call is recorded with its tenant; a test may replace what Search and GetCollection answer (`behaviour`),
 * and take the index down for writes (`failing`).
 */
import {
  RetrievalServiceService,
  type DeleteRequest,
  type GetCollectionRequest,
  type GetCollectionResponse,
  type Point,
  type SearchHit,
  type SearchRequest,
  type SearchResponse,
  type UpsertRequest,
} from "#gen/rag/v1/retrieval.js";
import { requireTenant, type CallContext } from "#mesh/context.js";
import { NotFoundError } from "#mesh/errors.js";
import { notImplemented } from "#mesh/handlers.js";
import { serve } from "#mesh/server.js";
import { requestsOf, type Recorded } from "./recorded.js";

/** The fake collection's passages. The second is longer than a snippet, to show snippets are cut. */
export const CORPUS: SearchHit[] = [
  hit(1, "doc-leave", "chunk-leave-0", "Leave policy", "https://intranet/leave", "Everyone gets 30 days of paid leave a year. Unused days carry over to March."),
  hit(2, "doc-handbook", "chunk-handbook-3", "Employee handbook", "", `Holidays are planned with your manager. ${"Details follow in the annex. ".repeat(20)}`),
  hit(3, "doc-expenses", "chunk-expenses-1", "Expenses", "https://intranet/expenses", "Travel is reimbursed within 30 days of the claim."),
];

function hit(rank: number, documentId: string, chunkId: string, title: string, sourceUri: string, text: string): SearchHit {
  return {
    point: { chunkId, documentId, vector: [], text, title, sourceUri, headingPath: [], chunkIndex: 0, tags: [], metadata: {}, documentTime: undefined },
    rank,
    score: 1 / (60 + rank),
    denseScore: 0,
    sparseScore: 0,
    denseRank: rank,
    sparseRank: 0,
  };
}

export interface RetrievalBehaviour {
  search(req: SearchRequest, ctx: CallContext): Promise<SearchResponse>;
  getCollection(req: GetCollectionRequest, ctx: CallContext): Promise<GetCollectionResponse>;
}

export class FakeRetrieval {
  readonly searches: Recorded<SearchRequest>[] = [];
  readonly collectionReads: Recorded<GetCollectionRequest>[] = [];
  readonly upserts: Recorded<UpsertRequest>[] = [];
  readonly deletes: Recorded<DeleteRequest>[] = [];
  /** Collection name -> version; a name not here is NOT_FOUND in GetCollection and version 0 in Search. */
  readonly versions = new Map<string, string>();
  behaviour: RetrievalBehaviour = this.defaults();
  /** When set, Upsert and Delete answer with this error and are not recorded: the write never reached the index. */
  failing: Error | undefined;
  private writes = 0;

  constructor() {
    this.reset();
  }

  pointsOf(tenant: string): Point[] {
    return requestsOf(this.upserts, tenant).flatMap((r) => r.points);
  }

  /**
   * Forget what was received; default behaviour; collections "default" and "handbook" at a version never
   * used before, so answers a caller cached earlier (in an earlier test) are not served again.
   */
  reset(): void {
    for (const list of [this.searches, this.collectionReads, this.upserts, this.deletes]) list.length = 0;
    this.versions.clear();
    this.bumpVersion("default");
    this.bumpVersion("handbook");
    this.behaviour = this.defaults();
    this.failing = undefined;
  }

  /** What an Upsert or Delete does to a collection's version; returns the new version. */
  bumpVersion(collection: string): string {
    const version = String(++this.writes);
    this.versions.set(collection, version);
    return version;
  }

  service() {
    const record = <T>(list: Recorded<T>[], request: T, ctx: CallContext) => list.push({ request, tenant: ctx.tenantId });
    return serve(RetrievalServiceService, {
      search: async (req, ctx) => (record(this.searches, req, ctx), this.behaviour.search(req, ctx)),
      getCollection: async (req, ctx) => (record(this.collectionReads, req, ctx), this.behaviour.getCollection(req, ctx)),
      upsert: async (req, ctx) => {
        if (this.failing) throw this.failing;
        this.upserts.push({ tenant: requireTenant(ctx), request: req });
        return { upsertedCount: req.points.length, collectionVersion: this.bumpVersion(req.collection) };
      },
      delete: async (req, ctx) => {
        if (this.failing) throw this.failing;
        this.deletes.push({ tenant: requireTenant(ctx), request: req });
        return { deletedCount: String(req.chunkIds.length + req.documentIds.length), collectionVersion: this.bumpVersion(req.collection) };
      },
      ...notImplemented(RetrievalServiceService, "listCollections"),
    });
  }

  private defaults(): RetrievalBehaviour {
    return {
      search: async (req) => ({ hits: CORPUS.slice(0, req.topK || 10), mode: req.mode, collectionVersion: this.versions.get(req.collection) ?? "0" }),
      getCollection: async (req, ctx) => {
        const version = this.versions.get(req.collection);
        if (version === undefined) throw new NotFoundError("collection", req.collection);
        return { collection: { name: req.collection, tenantId: ctx.tenantId ?? "", pointCount: String(CORPUS.length), documentCount: "3", dimensions: 3, version } };
      },
    };
  }
}
