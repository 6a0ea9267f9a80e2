import OpenAI, {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
  AuthenticationError,
  BadRequestError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
  UnprocessableEntityError,
} from "openai";
import type { ChatCompletionCreateParamsBase } from "openai/resources/chat/completions/completions.js";
import { FinishReason } from "#gen/rag/v1/generation.js";
import { CancelledError, DeadlineExceededError, InvalidArgumentError, ResourceExhaustedError, UnavailableError } from "#mesh/errors.js";
import { errorFields, log } from "#mesh/logger.js";
import { citationsFromAnswer } from "./citations.js";
import { packPrompt } from "./prompt.js";
import { NO_ANSWER, usage, type GenerationInput, type GenerationOutcome, type Provider } from "./provider.js";
import { estimateTokens } from "./text.js";

export interface OpenAIProviderOptions {
  /** e.g. "http://127.0.0.1:8000/v1"; unset means api.openai.com. */
  baseURL?: string;
  /** Local OpenAI-compatible servers often need none; the SDK insists on a value, so one is supplied. */
  apiKey?: string;
  defaultModel: string;
  /** Budget of the whole prompt in estimated tokens. */
  contextTokens: number;
  /** Retries on 429 and 5xx (and lost connections) before the first token; the SDK backs off and honours Retry-After. */
  maxRetries: number;
}

const MODEL_NAME = /^[\w.:/@-]{1,128}$/;

const FINISH: Record<string, FinishReason> = {
  stop: FinishReason.FINISH_REASON_STOP,
  length: FinishReason.FINISH_REASON_LENGTH,
  content_filter: FinishReason.FINISH_REASON_CONTENT_FILTER,
};

/** A provider backed by an OpenAI-compatible chat completions endpoint (OpenAI, vLLM, Ollama, LiteLLM, …). */
export function openaiProvider(opts: OpenAIProviderOptions): Provider {
  const client = new OpenAI({ baseURL: opts.baseURL, apiKey: opts.apiKey || "unused", maxRetries: opts.maxRetries });
  const endpoint = opts.baseURL ?? "https://api.openai.com/v1";

  return {
    name: "openai",
    defaultModel: opts.defaultModel,
    checkModel(model) {
      if (!MODEL_NAME.test(model)) throw new InvalidArgumentError("options.model", `${JSON.stringify(model)} is not a model name: 1-128 letters, digits and ".:/@_-"`);
    },
    async *generate(input: GenerationInput) {
      const prompt = packPrompt(input.question, input.passages, input.template, opts.contextTokens);
      const shown = input.passages.slice(0, prompt.used);
      if (prompt.used === 0) {
        yield NO_ANSWER;
        return { citations: [], answered: false, usage: usage(0, 0), finishReason: FinishReason.FINISH_REASON_STOP, passagesUsed: 0 };
      }
      const body: ChatCompletionCreateParamsBase = {
        model: input.model,
        messages: prompt.messages,
        max_tokens: input.maxTokens,
        temperature: input.temperature,
      };
      const failure = (err: unknown) => providerError(err, input.signal, endpoint, input.model);

      let text = "";
      let finish: string | null = null;
      let reported: { prompt_tokens: number; completion_tokens: number } | undefined;
      if (input.stream) {
        const stream = await client.chat.completions
          .create({ ...body, stream: true, stream_options: { include_usage: true } }, { signal: input.signal })
          .catch((err) => Promise.reject(failure(err)));
        try {
          for await (const chunk of stream) {
            // With include_usage the last chunk carries usage and no choices.
            if (chunk.usage) reported = chunk.usage;
            const choice = chunk.choices[0];
            if (!choice) continue;
            if (choice.finish_reason) finish = choice.finish_reason;
            const delta = choice.delta?.content;
            if (delta) {
              text += delta;
              yield delta;
            }
          }
        } catch (err) {
          throw failure(err);
        } finally {
          // The consumer went away early (cancelled call): stop reading the model's output.
          stream.controller.abort();
        }
      } else {
        const completion = await client.chat.completions.create({ ...body, stream: false }, { signal: input.signal }).catch((err) => Promise.reject(failure(err)));
        const choice = completion.choices[0];
        text = choice?.message?.content ?? "";
        finish = choice?.finish_reason ?? null;
        reported = completion.usage;
        if (text) yield text;
      }

      const noAnswer = isNoAnswer(text);
      const outcome: GenerationOutcome = {
        citations: noAnswer ? [] : citationsFromAnswer(text, shown),
        answered: !noAnswer && text.trim() !== "",
        // Servers that ignore include_usage still get accounted, with the service's own estimate.
        usage: reported ? usage(reported.prompt_tokens, reported.completion_tokens) : usage(prompt.estimatedTokens, estimateTokens(text)),
        finishReason: (finish && FINISH[finish]) || FinishReason.FINISH_REASON_UNSPECIFIED,
        passagesUsed: prompt.used,
      };
      return outcome;
    },
  };
}

/** The model said the passages hold no answer (the reply the prompt asks for, give or take punctuation). */
function isNoAnswer(text: string): boolean {
  const simplify = (s: string) => s.toLowerCase().replace(/[^a-z ]/g, "").replace(/\s+/g, " ").trim();
  return simplify(text).startsWith(simplify(NO_ANSWER).replace(/ documents$/, ""));
}

/** Maps what the SDK threw (after its retries) to the status the caller should see. */
function providerError(err: unknown, signal: AbortSignal, endpoint: string, model: string): unknown {
  if (signal.aborted) return signal.reason;
  if (err instanceof APIUserAbortError) return new CancelledError("the model request was cancelled");
  if (err instanceof APIConnectionTimeoutError) return new DeadlineExceededError(`the model provider at ${endpoint} did not answer in time`);
  if (err instanceof APIConnectionError) return new UnavailableError(`cannot reach the model provider at ${endpoint}`);
  // undici reports a connection dropped mid-stream as "TypeError: terminated".
  if (!(err instanceof APIError)) return new UnavailableError(`the connection to the model provider failed: ${err instanceof Error ? err.message : String(err)}`);
  const detail = (err.message || "").slice(0, 300);
  if (err instanceof RateLimitError) return new ResourceExhaustedError(`the model provider is rate-limiting requests: ${detail}`);
  if (err instanceof NotFoundError) return new InvalidArgumentError("options.model", `the model provider does not know model ${JSON.stringify(model)}: ${detail}`);
  if (err instanceof BadRequestError || err instanceof UnprocessableEntityError) return new InvalidArgumentError("options", `the model provider rejected the request: ${detail}`);
  if (err instanceof AuthenticationError || err instanceof PermissionDeniedError) {
    log.error("the model provider rejected the service's credentials: check OPENAI_API_KEY", errorFields(err));
    return new UnavailableError("the model provider rejected this service's credentials");
  }
  return new UnavailableError(`the model provider failed (HTTP ${err.status ?? "?"}): ${detail}`);
}
