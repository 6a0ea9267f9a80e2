/**
 * Test double of the embeddings service: rag.v1.EmbeddingsService as proto/rag/v1/embeddings.proto defines
 * it, served over real gRPC (testing/fakes/set.ts starts it). Embed answers deterministic 3-dimensional
 * vectors (fakeVector), requires a tenant as the real service does, and records every call with its tenant
 * and deadline. A test may replace what Embed answers (`behaviour.embed`: fail, stall), hold a tenant's calls
 * open (`hold`) or make every call slow (`delayMs`, a slow dependency); reset() restores the defaults.
 */
import { EmbeddingsServiceService, type EmbedRequest, type EmbedResponse } from "#gen/rag/v1/embeddings.js";
import { requireTenant, type CallContext } from "#mesh/context.js";
import { serve } from "#mesh/server.js";
import { requestsOf, type Recorded } from "./recorded.js";

/** The fake's vector for a text: it depends on the text, so a test can follow an embedding to where it is used. */
export function fakeVector(text: string): number[] {
  return [text.length, 1, 0];
}

export interface EmbeddingsBehaviour {
  embed(req: EmbedRequest, ctx: CallContext): Promise<EmbedResponse>;
}

/** Holds Embed calls of `tenant` (from its `from`-th call on, 1-based; all by default) until `release` settles. */
export interface EmbedHold {
  tenant: string;
  entered: () => void;
  release: Promise<void>;
  from?: number;
}

export class FakeEmbeddings {
  readonly calls: Recorded<EmbedRequest>[] = [];
  /** The deadline (epoch ms) of every Embed call as it arrived: what the caller's context gave it. */
  readonly deadlines: number[] = [];
  hold: EmbedHold | undefined;
  delayMs = 0;
  behaviour: EmbeddingsBehaviour = defaults();

  textsOf(tenant: string): string[] {
    return requestsOf(this.calls, tenant).flatMap((r) => r.texts);
  }

  reset(): void {
    this.calls.length = 0;
    this.deadlines.length = 0;
    this.hold = undefined;
    this.delayMs = 0;
    this.behaviour = defaults();
  }

  service() {
    return serve(EmbeddingsServiceService, {
      embed: async (req, ctx) => {
        const tenant = requireTenant(ctx);
        this.calls.push({ tenant, request: req });
        this.deadlines.push(ctx.deadline);
        const nth = this.calls.filter((c) => c.tenant === tenant).length;
        const hold = this.hold;
        if (hold?.tenant === tenant && nth >= (hold.from ?? 1)) {
          hold.entered();
          await hold.release;
        }
        if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
        return this.behaviour.embed(req, ctx);
      },
    });
  }
}

function defaults(): EmbeddingsBehaviour {
  return {
    embed: async (req) => ({
      vectors: req.texts.map((t) => ({ values: fakeVector(t) })),
      model: req.model || "fake-3",
      dimensions: 3,
      usage: { inputTokens: 0, cacheHits: 0, cacheMisses: req.texts.length },
    }),
  };
}
