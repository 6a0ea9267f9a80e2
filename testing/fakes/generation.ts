/**
 * Test double of the generation service: rag.v1.GenerationService as proto/rag/v1/generation.proto defines
 * it, served over real gRPC (testing/fakes/set.ts starts it). Generate quotes the first passage and cites it
 * (fakeAnswer); GenerateStream sends the same answer word by word, then its citations, then the summary.
 * Every call is recorded with its tenant; a test may replace either method (`behaviour`: fail, stall,
 * stream in pieces).
 */
import {
  FinishReason,
  GenerationServiceService,
  type GenerateRequest,
  type GenerateResponse,
  type GenerateStreamRequest,
  type GenerateStreamResponse,
} from "#gen/rag/v1/generation.js";
import type { CallContext } from "#mesh/context.js";
import { serve } from "#mesh/server.js";
import type { Recorded } from "./recorded.js";

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

export interface GenerationBehaviour {
  generate(req: GenerateRequest, ctx: CallContext): Promise<GenerateResponse>;
  generateStream(req: GenerateStreamRequest, ctx: CallContext): AsyncIterable<GenerateStreamResponse>;
}

export class FakeGeneration {
  /** Generate and GenerateStream calls, in arrival order. */
  readonly calls: Recorded<GenerateRequest | GenerateStreamRequest>[] = [];
  behaviour: GenerationBehaviour = defaults();

  reset(): void {
    this.calls.length = 0;
    this.behaviour = defaults();
  }

  service() {
    const record = (request: GenerateRequest | GenerateStreamRequest, ctx: CallContext) => this.calls.push({ request, tenant: ctx.tenantId });
    return serve(GenerationServiceService, {
      generate: async (req, ctx) => (record(req, ctx), this.behaviour.generate(req, ctx)),
      generateStream: (req, ctx) => (record(req, ctx), this.behaviour.generateStream(req, ctx)),
    });
  }
}

function defaults(): GenerationBehaviour {
  return {
    generate: async (req) => fakeAnswer(req),
    generateStream: (req) => fakeAnswerStream(req),
  };
}
