import type { Citation, ContextPassage, FinishReason, GenerationUsage } from "#gen/rag/v1/generation.js";

/** The reply when the passages hold no answer; every provider uses the same words so callers can rely on them. */
export const NO_ANSWER = "I could not find an answer in the provided documents.";

export const TEMPLATES = ["default", "concise", "detailed"] as const;
export type TemplateName = (typeof TEMPLATES)[number];

/** A context passage after validation: its marker `number` is resolved (never 0) and unique. */
export type NumberedPassage = ContextPassage;

/** A validated request, the same for every provider. */
export interface GenerationInput {
  question: string;
  /** Most relevant first. */
  passages: NumberedPassage[];
  /** Resolved: the request's model or the provider's default. */
  model: string;
  maxTokens: number;
  temperature: number;
  template: TemplateName;
  /** Whether the caller reads the answer as it is written (GenerateStream) or whole (Generate). */
  stream: boolean;
  /** Aborted when the caller cancels or the deadline passes. */
  signal: AbortSignal;
}

/** What a provider reports once its text is complete. */
export interface GenerationOutcome {
  citations: Citation[];
  answered: boolean;
  usage: GenerationUsage;
  finishReason: FinishReason;
  passagesUsed: number;
}

/**
 * A generation backend. `generate` yields the answer text in pieces as it is produced and returns the
 * outcome; concatenating the pieces gives the answer.
 */
export interface Provider {
  readonly name: string;
  readonly defaultModel: string;
  /** Throws InvalidArgumentError (field `options.model`) for a model this provider cannot serve. */
  checkModel(model: string): void;
  generate(input: GenerationInput): AsyncGenerator<string, GenerationOutcome, void>;
}

export function usage(promptTokens: number, completionTokens: number): GenerationUsage {
  return { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens };
}
