/**
 * What the service needs from an embedding provider. Providers know nothing of gRPC requests, caching or
 * tenants (R2R-style separation): they turn texts into unit vectors, in order, and say what it cost.
 * They throw the mesh's typed errors (UnavailableError, ResourceExhaustedError, ...) so a failure reaches
 * the caller with the right status.
 */

/** What the texts are for; asymmetric models embed queries and passages differently. */
export type InputType = "query" | "document";

export interface EmbedOptions {
  inputType: InputType;
  /** The call's deadline/cancellation: a provider stops waiting (and retrying) when it fires. */
  signal?: AbortSignal;
}

export interface ProviderEmbeddings {
  /** One L2-normalised vector per input text, in input order. */
  vectors: Float32Array[];
  /** Input tokens as the provider counted them (the local embedder counts words). */
  tokens: number;
}

export interface EmbeddingProvider {
  /** "local" or "openai": part of every cache key. */
  readonly name: string;
  /** The model every vector comes from (what EmbedResponse.model reports). */
  readonly model: string;
  /** Length of every vector; undefined only until a provider without a configured size first answers. */
  readonly dimensions: number | undefined;
  /** Whether the input type changes the vectors (and so must be part of the cache key). */
  readonly usesInputType: boolean;
  embed(texts: readonly string[], opts: EmbedOptions): Promise<ProviderEmbeddings>;
}
