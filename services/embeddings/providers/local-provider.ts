import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { inBatches } from "./batches.js";
import { embedWithUsage, localModelName } from "./local.js";
import type { EmbedOptions, EmbeddingProvider, ProviderEmbeddings } from "./provider.js";

/**
 * The local embedder as a provider. The embedding itself is synchronous CPU work, so a large request is
 * cut into batches with a turn of the event loop between them: other calls, health checks and the
 * deadline timer keep running, and a cancelled call stops at the next batch.
 */
export class LocalProvider implements EmbeddingProvider {
  readonly name = "local";
  readonly model: string;
  /**
   * The local embedder is symmetric: query and passage live in one bag-of-features space and meet on
   * shared words, so the input type is ignored (and query/document share cache entries). An asymmetric
   * treatment would need a learned model to say how a question maps to its answer's wording.
   */
  readonly usesInputType = false;

  constructor(readonly dimensions: number, private readonly batchSize: number) {
    this.model = localModelName(dimensions);
  }

  async embed(texts: readonly string[], { signal }: EmbedOptions): Promise<ProviderEmbeddings> {
    const vectors: Float32Array[] = [];
    let tokens = 0;
    for (const batch of inBatches(texts, this.batchSize)) {
      signal?.throwIfAborted();
      const out = embedWithUsage(batch, { dimensions: this.dimensions });
      vectors.push(...out.vectors);
      tokens += out.tokens;
      await yieldToEventLoop();
    }
    return { vectors, tokens };
  }
}
