import type { EmbeddingsServiceService } from "#gen/rag/v1/embeddings.js";
import { requireTenant } from "#mesh/context.js";
import { FailedPreconditionError } from "#mesh/errors.js";
import type { ServiceImpl } from "#mesh/handlers.js";
import { providerTokens, textsEmbedded } from "./metrics.js";
import type { EmbeddingProvider, InputType } from "./providers/provider.js";
import * as valid from "./validate.js";
import type { VectorCache, VectorScope } from "./vector-cache.js";

type Impl = ServiceImpl<typeof EmbeddingsServiceService>;

export interface EmbeddingsDeps {
  provider: EmbeddingProvider;
  cache: VectorCache;
  limits: valid.TextLimits;
}

export function embeddingsService({ provider, cache, limits }: EmbeddingsDeps): Impl {
  const scopeOf = (tenant: string, dimensions: number, inputType: InputType): VectorScope => ({
    tenant,
    provider: provider.name,
    model: provider.model,
    dimensions,
    inputType: provider.usesInputType ? inputType : undefined,
  });

  return {
    async embed(req, ctx) {
      const tenant = requireTenant(ctx);
      const texts = valid.texts(req.texts, limits);
      const model = valid.model(req.model, provider.model);
      const inputType = valid.inputType(req.inputType);

      // A provider whose size is not configured tells it with its first answer; until then (the first
      // call of a process) nothing can be looked up, so everything goes to the provider.
      const knownDimensions = provider.dimensions;
      const keys = knownDimensions === undefined ? undefined : texts.map((t) => cache.key(scopeOf(tenant, knownDimensions, inputType), t));
      const vectors = keys ? await cache.getMany(keys, knownDimensions!) : texts.map(() => undefined);
      const hits = vectors.filter((v) => v !== undefined).length;

      // Each distinct missing text goes to the provider once, however often it repeats in the request.
      const missing = new Map<string, number[]>();
      vectors.forEach((v, i) => {
        if (v !== undefined) return;
        const positions = missing.get(texts[i]!);
        if (positions) positions.push(i);
        else missing.set(texts[i]!, [i]);
      });
      let tokens = 0;
      if (missing.size > 0) {
        const fresh = await provider.embed([...missing.keys()], { inputType, signal: ctx.signal });
        tokens = fresh.tokens;
        const toCache: [string, Float32Array][] = [];
        let n = 0;
        for (const [text, positions] of missing) {
          const vector = fresh.vectors[n++]!;
          for (const i of positions) vectors[i] = vector;
          toCache.push([keys?.[positions[0]!] ?? cache.key(scopeOf(tenant, vector.length, inputType), text), vector]);
        }
        await cache.setMany(toCache);
      }

      const dimensions = provider.dimensions ?? vectors[0]!.length;
      // Providers check every vector; this guards the mix of cached and fresh ones.
      if (vectors.some((v) => v!.length !== dimensions)) throw new FailedPreconditionError(`vectors of different lengths for model ${model}: the provider changed its dimensions`);
      const misses = texts.length - hits;
      textsEmbedded.inc({ provider: provider.name, model, source: "cache" }, hits);
      textsEmbedded.inc({ provider: provider.name, model, source: "provider" }, misses);
      providerTokens.inc({ provider: provider.name, model }, tokens);
      return {
        vectors: vectors.map((v) => ({ values: Array.from(v!) })),
        model,
        dimensions,
        usage: { inputTokens: tokens, cacheHits: hits, cacheMisses: misses },
      };
    },
  };
}
