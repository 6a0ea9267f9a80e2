import type { GenerationOptions } from "#gen/rag/v1/generation.js";
import type { AskRequest } from "#gen/rag/v1/query.js";
import { SearchMode, type Filter } from "#gen/rag/v1/retrieval.js";
import { InvalidArgumentError } from "#mesh/errors.js";
import { checkFilter } from "#mesh/labels.js";
import { checkCollectionName, DEFAULT_COLLECTION, MAX_ASK_TOP_K, notLongerThan } from "#mesh/rules.js";

export const LIMITS = { questionChars: 4000, topK: MAX_ASK_TOP_K, maxTokens: 4096 };
export const DEFAULTS = { collection: DEFAULT_COLLECTION, topK: 5, mode: SearchMode.SEARCH_MODE_HYBRID, maxTokens: 512, template: "default" };

// The prompt templates AskOptions.template may name, as query.proto lists them; checked here too so that
// SubmitAsk refuses an unknown one at once (tests/fuzz-rest holds the service to the contract).
const TEMPLATES: readonly string[] = ["default", "concise", "detailed"];
const MODES = new Set([SearchMode.SEARCH_MODE_HYBRID, SearchMode.SEARCH_MODE_DENSE, SearchMode.SEARCH_MODE_SPARSE]);

/** One question, validated and with every default resolved: what the pipeline runs and the cache keys on. */
export interface AskPlan {
  question: string;
  collection: string;
  topK: number;
  mode: SearchMode;
  filter: Filter | undefined;
  generation: GenerationOptions;
  bypassCache: boolean;
}

/** AskRequest, AskStreamRequest and SubmitAskRequest carry the same fields; all three validate here. */
export function askPlan(req: AskRequest): AskPlan {
  const question = req.question.trim();
  if (question === "") throw new InvalidArgumentError("question", "required: ask a question");
  notLongerThan("question", question, LIMITS.questionChars);

  const collection = checkCollectionName("collection", req.collection.trim() || DEFAULTS.collection, req.collection);

  if (!Number.isInteger(req.topK) || req.topK < 0 || req.topK > LIMITS.topK) {
    throw new InvalidArgumentError("top_k", `must be between 1 and ${LIMITS.topK} (0 means ${DEFAULTS.topK}), got ${req.topK}`);
  }

  const options = req.options;
  const maxTokens = options?.maxTokens ?? 0;
  if (maxTokens < 0 || maxTokens > LIMITS.maxTokens) {
    throw new InvalidArgumentError("options.max_tokens", `must be between 1 and ${LIMITS.maxTokens} (0 means ${DEFAULTS.maxTokens}), got ${maxTokens}`);
  }
  const template = options?.template.trim() ?? "";
  if (template !== "" && !TEMPLATES.includes(template)) {
    throw new InvalidArgumentError("options.template", `unknown template ${JSON.stringify(options?.template)}; known: ${TEMPLATES.join(", ")}`);
  }
  const requestedMode = options?.searchMode ?? SearchMode.SEARCH_MODE_UNSPECIFIED;
  const mode = requestedMode === SearchMode.SEARCH_MODE_UNSPECIFIED ? DEFAULTS.mode : requestedMode;
  if (!MODES.has(mode)) throw new InvalidArgumentError("options.search_mode", `unknown search mode ${requestedMode}`);

  return {
    question,
    collection,
    topK: req.topK || DEFAULTS.topK,
    mode,
    // Checked here as retrieval checks it, so that a bad filter fails the ask at once, SubmitAsk included,
    // rather than later as a FAILED ask.
    filter: req.filter && (checkFilter(req.filter), req.filter),
    generation: {
      provider: options?.provider.trim() ?? "",
      model: options?.model.trim() ?? "",
      maxTokens: maxTokens || DEFAULTS.maxTokens,
      template: template || DEFAULTS.template,
    },
    bypassCache: options?.bypassCache ?? false,
  };
}

/** Dense and hybrid search need the question's embedding; sparse (BM25) needs only its text. */
export function needsEmbedding(plan: AskPlan): boolean {
  return plan.mode !== SearchMode.SEARCH_MODE_SPARSE;
}
