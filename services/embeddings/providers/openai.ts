import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from "openai";
import {
  CancelledError,
  FailedPreconditionError,
  InvalidArgumentError,
  ResourceExhaustedError,
  UnavailableError,
} from "#mesh/errors.js";
import { log } from "#mesh/logger.js";
import { inBatches, mapBounded } from "./batches.js";
import type { EmbedOptions, EmbeddingProvider, InputType, ProviderEmbeddings } from "./provider.js";

export interface OpenAIProviderOptions {
  /** e.g. https://api.openai.com/v1, or a self-hosted server's /v1 (vLLM, TEI, Ollama, LiteLLM, ...). */
  baseURL: string;
  /** Servers without auth accept any key; one must still be sent. */
  apiKey?: string;
  model: string;
  /** Sent as `dimensions` (text-embedding-3 shortens its vectors) and checked; unset: the first answer decides. */
  dimensions?: number;
  /** Texts per `/embeddings` request. */
  batchSize: number;
  /** Requests in flight at once for one call. */
  concurrency: number;
  /** Retries of one request on 408/409/429/5xx and connection errors, with backoff. */
  maxRetries: number;
  /** Bound on one HTTP attempt. */
  timeoutMs: number;
  /** Prepended to each text for asymmetric models that expect it, e.g. "query: " / "passage: " (E5). */
  queryPrefix?: string;
  documentPrefix?: string;
}

/**
 * Any OpenAI-compatible `/embeddings` endpoint through the official `openai` client.
 *
 * Retries are the client's own: exponential backoff from 0.5 s to 8 s with jitter, on 408, 409, 429, 5xx
 * and connection errors, honouring `Retry-After`/`retry-after-ms` (up to a minute) and sleeping on the
 * call's AbortSignal, so a deadline or a cancelled call stops the waiting too. What is still failing after
 * the last retry becomes a typed error: 429 → RESOURCE_EXHAUSTED, 5xx and network → UNAVAILABLE.
 */
export class OpenAIProvider implements EmbeddingProvider {
  readonly name = "openai";
  readonly model: string;
  readonly usesInputType: boolean;
  private readonly client: OpenAI;
  private knownDimensions: number | undefined;

  constructor(private readonly opts: OpenAIProviderOptions) {
    this.model = opts.model;
    this.knownDimensions = opts.dimensions;
    this.usesInputType = Boolean(opts.queryPrefix || opts.documentPrefix);
    this.client = new OpenAI({
      baseURL: opts.baseURL,
      apiKey: opts.apiKey || "unused",
      maxRetries: opts.maxRetries,
      timeout: opts.timeoutMs,
      logger: log,
      logLevel: "warn",
    });
  }

  get dimensions(): number | undefined {
    return this.knownDimensions;
  }

  async embed(texts: readonly string[], { inputType, signal }: EmbedOptions): Promise<ProviderEmbeddings> {
    const prefix = this.prefixFor(inputType);
    const batches = inBatches(texts.map((t) => prefix + t), this.opts.batchSize);
    const results = await mapBounded(batches, this.opts.concurrency, signal, (batch, i, batchSignal) =>
      this.embedBatch(batch, i * this.opts.batchSize, batchSignal),
    );
    return { vectors: results.flatMap((r) => r.vectors), tokens: results.reduce((sum, r) => sum + r.tokens, 0) };
  }

  private prefixFor(inputType: InputType): string {
    return (inputType === "query" ? this.opts.queryPrefix : this.opts.documentPrefix) ?? "";
  }

  private async embedBatch(inputs: string[], offset: number, signal: AbortSignal): Promise<ProviderEmbeddings> {
    let response: OpenAI.CreateEmbeddingResponse;
    try {
      response = await this.client.embeddings.create(
        {
          model: this.model,
          input: inputs,
          // Floats, not the client's default base64: every compatible server speaks floats.
          encoding_format: "float",
          ...(this.opts.dimensions === undefined ? {} : { dimensions: this.opts.dimensions }),
        },
        { signal },
      );
    } catch (err) {
      throw this.failure(err, signal);
    }
    return { vectors: this.checkedVectors(response, inputs.length, offset), tokens: response.usage?.prompt_tokens ?? 0 };
  }

  /** Vectors in input order, each finite, of the service's one dimension, and unit length. */
  private checkedVectors(response: OpenAI.CreateEmbeddingResponse, count: number, offset: number): Float32Array[] {
    const data: unknown = response?.data;
    if (!Array.isArray(data) || data.length !== count) {
      throw new UnavailableError(`the embedding provider answered ${Array.isArray(data) ? data.length : "no"} vectors for ${count} texts`);
    }
    const vectors = new Array<Float32Array>(count);
    data.forEach((item: Partial<OpenAI.Embedding>, position) => {
      const index = typeof item?.index === "number" ? item.index : position;
      const values = item?.embedding;
      if (!Number.isInteger(index) || index < 0 || index >= count || vectors[index] !== undefined) {
        throw new UnavailableError(`the embedding provider answered a bad or repeated index ${JSON.stringify(item?.index)}`);
      }
      if (!Array.isArray(values) || values.length === 0 || !values.every(Number.isFinite)) {
        throw new UnavailableError(`the embedding provider answered a malformed vector for texts[${offset + index}]`);
      }
      this.checkDimensions(values.length, offset + index);
      vectors[index] = normalised(values);
    });
    return vectors;
  }

  private checkDimensions(length: number, textIndex: number): void {
    // The first vector fixes the size when none is configured: every vector of an index must agree.
    this.knownDimensions ??= length;
    if (length === this.knownDimensions) return;
    const expected = this.opts.dimensions === undefined ? `the ${this.knownDimensions} of its earlier vectors` : `EMBEDDINGS_DIMENSIONS=${this.knownDimensions}`;
    const message = `the embedding provider returned a ${length}-dimensional vector for texts[${textIndex}], but model ${this.model} must give ${expected}: check EMBEDDINGS_MODEL and EMBEDDINGS_DIMENSIONS`;
    log.error("embedding dimension mismatch", { model: this.model, got: length, expected: this.knownDimensions });
    throw new FailedPreconditionError(message);
  }

  /** Maps what the client threw (after its retries) to the status the caller should see. */
  private failure(err: unknown, signal: AbortSignal): Error {
    if (signal.aborted && signal.reason instanceof Error) return signal.reason; // deadline, cancel, or a sibling batch failed
    if (err instanceof APIUserAbortError) return new CancelledError("the embedding request was cancelled");
    const attempts = `${this.opts.maxRetries + 1} attempt${this.opts.maxRetries === 0 ? "" : "s"}`;
    if (err instanceof APIConnectionTimeoutError) {
      return new UnavailableError(`the embedding provider at ${this.opts.baseURL} did not answer within ${this.opts.timeoutMs} ms (${attempts})`);
    }
    if (err instanceof APIConnectionError) {
      return new UnavailableError(`cannot reach the embedding provider at ${this.opts.baseURL} (${attempts}): ${causeOf(err)}`);
    }
    if (err instanceof APIError && typeof err.status === "number") {
      const what = `HTTP ${err.status}: ${err.message}`;
      if (err.status === 429) return new ResourceExhaustedError(`the embedding provider is rate-limiting (${what}); gave up after ${attempts}`);
      if (err.status >= 500 || err.status === 408 || err.status === 409) {
        return new UnavailableError(`the embedding provider failed (${what}) after ${attempts}`);
      }
      if (err.status === 400 || err.status === 413 || err.status === 422) {
        return new InvalidArgumentError("texts", `the embedding provider rejected the batch (${what})`);
      }
      log.error("embedding provider refused the request", { status: err.status, model: this.model, base_url: this.opts.baseURL });
      return new FailedPreconditionError(`the embedding provider refused the request (${what}): check OPENAI_BASE_URL, OPENAI_API_KEY and EMBEDDINGS_MODEL`);
    }
    return new UnavailableError(`the embedding provider answered something unreadable: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function causeOf(err: Error): string {
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error ? cause.message : err.message;
}

/** Unit length, as the contract promises; most providers already are, self-hosted ones not always. */
function normalised(values: number[]): Float32Array {
  let norm = 0;
  for (const v of values) norm += v * v;
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  return Float32Array.from(values, (v) => v * scale);
}
