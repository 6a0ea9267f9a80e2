/*
 * Test support (not used by the service): in-process fake embeddings, retrieval and generation servers
 * that speak the real contracts over real gRPC, record every request with the tenant it carried, and let a
 * test swap any behaviour (fail, stall, stream in pieces) and the collection versions.
 */
import { EmbeddingsServiceService, type EmbedRequest, type EmbedResponse } from "#gen/rag/v1/embeddings.js";
import {
  FinishReason,
  GenerationServiceService,
  type GenerateRequest,
  type GenerateResponse,
  type GenerateStreamRequest,
  type GenerateStreamResponse,
} from "#gen/rag/v1/generation.js";
import {
  RetrievalServiceService,
  type GetCollectionRequest,
  type GetCollectionResponse,
  type SearchHit,
  type SearchRequest,
  type SearchResponse,
} from "#gen/rag/v1/retrieval.js";
import { CATALOGUE } from "#mesh/catalogue.js";
import type { CallContext } from "#mesh/context.js";
import { NotFoundError } from "#mesh/errors.js";
import { notImplemented } from "#mesh/handlers.js";
import { serve, type RunningServer, type ServiceRegistration } from "#mesh/server.js";
import { startFakeServer } from "#testing/grpc.js";

export interface Received<T> {
  request: T;
  tenant: string | undefined;
}

export interface FakeBehaviour {
  embed(req: EmbedRequest, ctx: CallContext): Promise<EmbedResponse>;
  search(req: SearchRequest, ctx: CallContext): Promise<SearchResponse>;
  getCollection(req: GetCollectionRequest, ctx: CallContext): Promise<GetCollectionResponse>;
  generate(req: GenerateRequest, ctx: CallContext): Promise<GenerateResponse>;
  generateStream(req: GenerateStreamRequest, ctx: CallContext): AsyncIterable<GenerateStreamResponse>;
}

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

/** A vector that depends on the text, so a test can check the question's embedding reached the search. */
export function fakeVector(text: string): number[] {
  return [text.length, 1, 0.5];
}

/** The fake generator's answer: quotes the first passage and cites it; with no passages, says so. */
export function fakeAnswer(req: GenerateRequest): GenerateResponse {
  const first = req.passages[0];
  const base = { usage: undefined, provider: "fake", model: req.options?.model || "fake-model", finishReason: FinishReason.FINISH_REASON_STOP };
  if (!first) return { ...base, answer: "Nothing relevant was found in the provided context.", citations: [], answered: false, passagesUsed: 0 };
  const quote = first.text.split(". ")[0]!;
  return {
    ...base,
    answer: `${quote} [${first.number}].`,
    citations: [{ marker: first.number, chunkId: first.chunkId, documentId: first.documentId, quote, quoteStart: 0, quoteEnd: [...quote].length }],
    answered: true,
    passagesUsed: req.passages.length,
  };
}

/** The fake answer streamed word by word, then its citations, then the summary. */
export async function* fakeAnswerStream(req: GenerateStreamRequest): AsyncIterable<GenerateStreamResponse> {
  const answer = fakeAnswer(req);
  for (const word of answer.answer.match(/\S+\s*/g) ?? []) yield { event: { $case: "delta", value: word } };
  for (const citation of answer.citations) yield { event: { $case: "citation", value: citation } };
  const { answered, usage, provider, model, finishReason, passagesUsed } = answer;
  yield { event: { $case: "summary", value: { answered, usage, provider, model, finishReason, passagesUsed } } };
}

export class FakeDependencies {
  readonly embeds: Received<EmbedRequest>[] = [];
  readonly searches: Received<SearchRequest>[] = [];
  readonly collectionReads: Received<GetCollectionRequest>[] = [];
  readonly generations: Received<GenerateRequest | GenerateStreamRequest>[] = [];
  /** Collection name -> version; a name not here is NOT_FOUND in GetCollection and version 0 in Search. */
  readonly versions = new Map<string, string>();
  behaviour: FakeBehaviour = this.defaults();
  private writes = 0;

  private constructor(private readonly servers: Record<"embeddings" | "retrieval" | "generation", RunningServer>) {
    this.reset();
  }

  static async start(): Promise<FakeDependencies> {
    const servers = {} as Record<"embeddings" | "retrieval" | "generation", RunningServer>;
    let fakes!: FakeDependencies;
    const record = <T>(list: Received<T>[], request: T, ctx: CallContext) => list.push({ request, tenant: ctx.tenantId });
    const registrations: Record<keyof typeof servers, ServiceRegistration> = {
      embeddings: serve(EmbeddingsServiceService, {
        embed: async (req, ctx) => (record(fakes.embeds, req, ctx), fakes.behaviour.embed(req, ctx)),
      }),
      retrieval: serve(RetrievalServiceService, {
        search: async (req, ctx) => (record(fakes.searches, req, ctx), fakes.behaviour.search(req, ctx)),
        getCollection: async (req, ctx) => (record(fakes.collectionReads, req, ctx), fakes.behaviour.getCollection(req, ctx)),
        ...notImplemented(RetrievalServiceService, "upsert", "delete", "listCollections"),
      }),
      generation: serve(GenerationServiceService, {
        generate: async (req, ctx) => (record(fakes.generations, req, ctx), fakes.behaviour.generate(req, ctx)),
        generateStream: (req, ctx) => (record(fakes.generations, req, ctx), fakes.behaviour.generateStream(req, ctx)),
      }),
    };
    for (const [name, registration] of Object.entries(registrations) as [keyof typeof servers, ServiceRegistration][]) {
      servers[name] = await startFakeServer([registration], [CATALOGUE[name].protoFile]);
    }
    fakes = new FakeDependencies(servers);
    return fakes;
  }

  /** RAG_ENDPOINTS for a query service that should call these fakes. */
  get endpoints(): string {
    return Object.entries(this.servers)
      .map(([name, server]) => `${name}=127.0.0.1:${server.grpcPort}`)
      .join(",");
  }

  /**
   * Forget what was received; default behaviour; collections "default" and "handbook" at a version never
   * used before, so answers a query service cached earlier (in an earlier test) are not served again.
   */
  reset(): void {
    for (const list of [this.embeds, this.searches, this.collectionReads, this.generations]) list.length = 0;
    this.versions.clear();
    this.bumpVersion("default");
    this.bumpVersion("handbook");
    this.behaviour = this.defaults();
  }

  /** What an Upsert or Delete does to a collection's version. */
  bumpVersion(collection: string): void {
    this.versions.set(collection, String(++this.writes));
  }

  async stop(): Promise<void> {
    await Promise.all(Object.values(this.servers).map((s) => s.shutdown()));
  }

  private defaults(): FakeBehaviour {
    return {
      embed: async (req) => ({ vectors: req.texts.map((t) => ({ values: fakeVector(t) })), model: req.model || "fake-embed", dimensions: 3, usage: undefined }),
      search: async (req) => ({ hits: CORPUS.slice(0, req.topK || 10), mode: req.mode, collectionVersion: this.versions.get(req.collection) ?? "0" }),
      getCollection: async (req, ctx) => {
        const version = this.versions.get(req.collection);
        if (version === undefined) throw new NotFoundError("collection", req.collection);
        return { collection: { name: req.collection, tenantId: ctx.tenantId ?? "", pointCount: String(CORPUS.length), documentCount: "3", dimensions: 3, version } };
      },
      generate: async (req) => fakeAnswer(req),
      generateStream: (req) => fakeAnswerStream(req),
    };
  }
}
