import type { ContextPassage, GenerationOptions } from "#gen/rag/v1/generation.js";
import { InvalidArgumentError } from "#mesh/errors.js";
import { TEMPLATES, type NumberedPassage, type TemplateName } from "./provider.js";

export const LIMITS = {
  questionChars: 4000,
  passages: 100,
  passageChars: 100_000,
  titleChars: 1000,
  sourceUriChars: 2048,
  maxTokens: 4096,
  defaultMaxTokens: 512,
  defaultTemperature: 0.2,
};

/** What a request asks for, checked: the provider and model are resolved by the caller against its registry. */
export interface CheckedRequest {
  question: string;
  passages: NumberedPassage[];
  provider: string;
  model: string;
  maxTokens: number;
  temperature: number;
  template: TemplateName;
}

const chars = (s: string) => [...s].length;

export function checkRequest(req: { question: string; passages: ContextPassage[]; options?: GenerationOptions | undefined }): CheckedRequest {
  const question = req.question.trim();
  if (question === "") throw new InvalidArgumentError("question", "required: ask a question");
  if (chars(question) > LIMITS.questionChars) throw new InvalidArgumentError("question", `at most ${LIMITS.questionChars} characters, got ${chars(question)}`);
  const options = req.options;
  return {
    question,
    passages: checkPassages(req.passages),
    provider: (options?.provider ?? "").trim(),
    model: (options?.model ?? "").trim(),
    maxTokens: checkMaxTokens(options?.maxTokens ?? 0),
    temperature: checkTemperature(options?.temperature),
    template: checkTemplate(options?.template ?? ""),
  };
}

function checkPassages(passages: ContextPassage[]): NumberedPassage[] {
  if (passages.length > LIMITS.passages) throw new InvalidArgumentError("passages", `at most ${LIMITS.passages} passages, got ${passages.length}`);
  const owner = new Map<number, number>();
  return passages.map((p, i) => {
    const field = `passages[${i}]`;
    if (p.text.trim() === "") throw new InvalidArgumentError(`${field}.text`, "required: a passage needs its text");
    if (chars(p.text) > LIMITS.passageChars) throw new InvalidArgumentError(`${field}.text`, `at most ${LIMITS.passageChars} characters, got ${chars(p.text)}`);
    if (chars(p.title) > LIMITS.titleChars) throw new InvalidArgumentError(`${field}.title`, `at most ${LIMITS.titleChars} characters`);
    if (chars(p.sourceUri) > LIMITS.sourceUriChars) throw new InvalidArgumentError(`${field}.source_uri`, `at most ${LIMITS.sourceUriChars} characters`);
    if (p.number < 0) throw new InvalidArgumentError(`${field}.number`, `must be positive (or 0 for "position plus one"), got ${p.number}`);
    const number = p.number === 0 ? i + 1 : p.number;
    const clash = owner.get(number);
    if (clash !== undefined) throw new InvalidArgumentError(`${field}.number`, `marker ${number} is already used by passages[${clash}]; numbers must be unique`);
    owner.set(number, i);
    return { number, chunkId: p.chunkId, documentId: p.documentId, title: p.title, sourceUri: p.sourceUri, text: p.text };
  });
}

function checkMaxTokens(value: number): number {
  if (value === 0) return LIMITS.defaultMaxTokens;
  if (value < 0 || value > LIMITS.maxTokens) throw new InvalidArgumentError("options.max_tokens", `must be 1-${LIMITS.maxTokens} (0 means ${LIMITS.defaultMaxTokens}), got ${value}`);
  return value;
}

function checkTemperature(value: number | undefined): number {
  if (value === undefined) return LIMITS.defaultTemperature;
  if (!Number.isFinite(value) || value < 0 || value > 2) throw new InvalidArgumentError("options.temperature", `must be between 0 and 2, got ${value}`);
  return value;
}

function checkTemplate(value: string): TemplateName {
  const name = value.trim() || "default";
  if (!(TEMPLATES as readonly string[]).includes(name)) throw new InvalidArgumentError("options.template", `unknown template ${JSON.stringify(value)}; known: ${TEMPLATES.join(", ")}`);
  return name as TemplateName;
}
