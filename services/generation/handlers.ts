import { FinishReason, type GenerateResponse, type GenerateStreamResponse, type GenerationServiceService } from "#gen/rag/v1/generation.js";
import { requireTenant, type CallContext } from "#mesh/context.js";
import { InvalidArgumentError } from "#mesh/errors.js";
import type { ServiceImpl } from "#mesh/handlers.js";
import { log } from "#mesh/logger.js";
import { wordDeltas } from "./extractive.js";
import { generationAnswers, generationTokens } from "./metrics.js";
import { NO_ANSWER, usage, type GenerationInput, type GenerationOutcome, type Provider } from "./provider.js";
import { checkRequest } from "./validate.js";

type Impl = ServiceImpl<typeof GenerationServiceService>;

export interface ProviderRegistry {
  /** Name of the provider used when a request names none. */
  defaultProvider: string;
  providers: Map<string, Provider>;
}

interface Prepared {
  provider: Provider;
  input: GenerationInput;
}

export function generationService(registry: ProviderRegistry): Impl {
  const prepare = (req: Parameters<Impl["generate"]>[0], ctx: CallContext, stream: boolean): Prepared => {
    requireTenant(ctx);
    const checked = checkRequest(req);
    const name = checked.provider || registry.defaultProvider;
    const provider = registry.providers.get(name);
    if (!provider) {
      throw new InvalidArgumentError("options.provider", `unknown or unconfigured provider ${JSON.stringify(name)}; available here: ${[...registry.providers.keys()].join(", ")}`);
    }
    const model = checked.model || provider.defaultModel;
    provider.checkModel(model);
    return { provider, input: { ...checked, model, stream, signal: ctx.signal } };
  };

  return {
    async generate(req, ctx) {
      const { provider, input } = prepare(req, ctx, false);
      const run = answer(provider, input);
      let text = "";
      let step = await run.next();
      for (; !step.done; step = await run.next()) text += step.value;
      const outcome = step.value;
      account(ctx, provider, input, outcome);
      const response: GenerateResponse = { answer: text, ...summary(provider, input, outcome), citations: outcome.citations };
      return response;
    },

    async *generateStream(req, ctx): AsyncGenerator<GenerateStreamResponse> {
      const { provider, input } = prepare(req, ctx, true);
      const run = answer(provider, input);
      try {
        let step = await run.next();
        for (; !step.done; step = await run.next()) yield { event: { $case: "delta", value: step.value } };
        const outcome = step.value;
        account(ctx, provider, input, outcome);
        for (const citation of outcome.citations) yield { event: { $case: "citation", value: citation } };
        yield { event: { $case: "summary", value: summary(provider, input, outcome) } };
      } finally {
        // The caller went away mid-stream: let the provider stop its own work (e.g. the model request).
        await run.return(undefined as never);
      }
    },
  };
}

/** With no passages there is nothing to ground an answer in: every provider replies the same, for free. */
async function* answer(provider: Provider, input: GenerationInput): AsyncGenerator<string, GenerationOutcome, void> {
  if (input.passages.length > 0) return yield* provider.generate(input);
  for (const delta of wordDeltas(NO_ANSWER)) yield delta;
  return { citations: [], answered: false, usage: usage(0, 0), finishReason: FinishReason.FINISH_REASON_STOP, passagesUsed: 0 };
}

function summary(provider: Provider, input: GenerationInput, outcome: GenerationOutcome) {
  return {
    answered: outcome.answered,
    usage: outcome.usage,
    provider: provider.name,
    model: input.model,
    finishReason: outcome.finishReason,
    passagesUsed: outcome.passagesUsed,
  };
}

function account(ctx: CallContext, provider: Provider, input: GenerationInput, outcome: GenerationOutcome): void {
  generationTokens.inc({ provider: provider.name, model: input.model, kind: "prompt" }, outcome.usage.promptTokens);
  generationTokens.inc({ provider: provider.name, model: input.model, kind: "completion" }, outcome.usage.completionTokens);
  generationAnswers.inc({ provider: provider.name, answered: String(outcome.answered) });
  log.info("generated", {
    tenant: ctx.tenantId,
    provider: provider.name,
    model: input.model,
    prompt_tokens: outcome.usage.promptTokens,
    completion_tokens: outcome.usage.completionTokens,
    passages: input.passages.length,
    passages_used: outcome.passagesUsed,
    answered: outcome.answered,
  });
}
