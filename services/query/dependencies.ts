import { status } from "@grpc/grpc-js";
import { EmbeddingsServiceClient } from "#gen/rag/v1/embeddings.js";
import { GenerationServiceClient } from "#gen/rag/v1/generation.js";
import { RetrievalServiceClient } from "#gen/rag/v1/retrieval.js";
import type { PromiseClient } from "#mesh/client.js";
import { errorDetails, isServiceError, RpcError } from "#mesh/errors.js";
import type { Runtime } from "#mesh/runtime.js";

/** The services an ask calls, as typed clients (deadline, tenant and request id propagate on their own). */
export interface Dependencies {
  embeddings: PromiseClient<typeof EmbeddingsServiceClient.service>;
  retrieval: PromiseClient<typeof RetrievalServiceClient.service>;
  generation: PromiseClient<typeof GenerationServiceClient.service>;
}

export type DependencyName = keyof Dependencies;

export function connectDependencies(runtime: Pick<Runtime, "connect">): Dependencies & { close(): void } {
  const deps = {
    embeddings: runtime.connect(EmbeddingsServiceClient, "embeddings"),
    retrieval: runtime.connect(RetrievalServiceClient, "retrieval"),
    generation: runtime.connect(GenerationServiceClient, "generation"),
  };
  return { ...deps, close: () => Object.values(deps).forEach((c) => c.close()) };
}

/**
 * What the caller sees when a dependency fails: the same status code wherever it still means the same thing
 * to them (UNAVAILABLE stays UNAVAILABLE, so they retry; INVALID_ARGUMENT stays, with its field), and a
 * message that names the dependency, so an operator knows where to look. Errors raised here (not on the
 * wire, e.g. no deadline left) pass through unchanged.
 */
export function dependencyFailure(dependency: DependencyName, err: unknown): unknown {
  if (!isServiceError(err)) return err;
  const said = err.details || err.message;
  const details = { ...errorDetails(err), dependency };
  // When the transport failed, the mesh client has already named the service ("embeddings is unavailable: …").
  const named = (what: string) => (said.startsWith(`${dependency} `) ? said : `${dependency} ${what}: ${said}`);
  switch (err.code) {
    case status.UNAVAILABLE:
      return new RpcError(status.UNAVAILABLE, named("is unavailable"), details);
    case status.DEADLINE_EXCEEDED:
      return new RpcError(status.DEADLINE_EXCEEDED, named("did not answer within the deadline"), details);
    case status.UNIMPLEMENTED:
      // Passing UNIMPLEMENTED on would tell the caller that Ask itself does not exist.
      return new RpcError(status.FAILED_PRECONDITION, `${dependency} cannot serve this yet: ${said}`, details);
    case status.INTERNAL:
    case status.UNKNOWN:
    case status.DATA_LOSS:
      return new RpcError(status.INTERNAL, `${dependency} failed: ${said}`, details);
    default:
      return new RpcError(err.code, `${dependency}: ${said}`, details);
  }
}

/** Runs one call to a dependency, translating its failure. */
export async function calling<T>(dependency: DependencyName, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw dependencyFailure(dependency, err);
  }
}
