import { EmbeddingInputType } from "#gen/rag/v1/embeddings.js";
import { InvalidArgumentError } from "#mesh/errors.js";
import type { InputType } from "./providers/provider.js";

export interface TextLimits {
  maxTexts: number;
  maxTextChars: number;
}

/** The texts of a request, each checked; errors name the exact entry (`texts[3]`). */
export function texts(values: string[], limits: TextLimits): string[] {
  if (values.length === 0) throw new InvalidArgumentError("texts", `required: give 1 to ${limits.maxTexts} texts to embed`);
  if (values.length > limits.maxTexts) {
    throw new InvalidArgumentError("texts", `at most ${limits.maxTexts} texts per request, got ${values.length}: split the request`);
  }
  values.forEach((text, i) => {
    if (text.trim() === "") throw new InvalidArgumentError(`texts[${i}]`, "empty: every text needs some non-whitespace content");
    if ([...text].length > limits.maxTextChars) {
      throw new InvalidArgumentError(`texts[${i}]`, `${text.length} characters, over the limit of ${limits.maxTextChars}: split it into chunks first`);
    }
  });
  return values;
}

/** Empty means the service's model; any other name must be that model (one model per deployment). */
export function model(requested: string, served: string): string {
  const name = requested.trim();
  if (name === "" || name === served) return served;
  throw new InvalidArgumentError("model", `unknown model ${JSON.stringify(name)}: this service embeds with ${JSON.stringify(served)} (leave model empty for it)`);
}

export function inputType(value: EmbeddingInputType): InputType {
  switch (value) {
    case EmbeddingInputType.EMBEDDING_INPUT_TYPE_QUERY:
      return "query";
    case EmbeddingInputType.EMBEDDING_INPUT_TYPE_DOCUMENT:
    case EmbeddingInputType.EMBEDDING_INPUT_TYPE_UNSPECIFIED:
      return "document";
    default:
      throw new InvalidArgumentError("input_type", `unknown value ${value}: use EMBEDDING_INPUT_TYPE_QUERY or EMBEDDING_INPUT_TYPE_DOCUMENT`);
  }
}
