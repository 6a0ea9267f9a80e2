import { status } from "@grpc/grpc-js";
import { DeleteRequest, RetrievalServiceClient } from "#gen/rag/v1/retrieval.js";
import type { PromiseClient } from "#mesh/client.js";
import { isServiceError, RpcError } from "#mesh/errors.js";

/**
 * The documents service's one dependency: removing points from the retrieval index. Callers invoke it
 * while they hold the document's row lock, before they change the rows, so a failure here leaves both
 * the rows and the index as they were.
 */
export interface SearchIndex {
  /** Removes every point of the document. */
  deleteDocument(collection: string, documentId: string): Promise<void>;
  /** Removes these chunks' points. */
  deleteChunks(collection: string, chunkIds: string[]): Promise<void>;
}

export function retrievalIndex(retrieval: PromiseClient<typeof RetrievalServiceClient.service>): SearchIndex {
  const remove = async (request: DeleteRequest, what: string) => {
    try {
      await retrieval.delete(request);
    } catch (err) {
      if (!isServiceError(err)) throw err;
      // Keep the upstream code (UNAVAILABLE stays retryable) but say what it means for this call.
      throw new RpcError(err.code, `could not remove ${what} from the retrieval index (${status[err.code]}: ${err.details}); the document was not changed; retry later`);
    }
  };
  return {
    deleteDocument: (collection, documentId) => remove(DeleteRequest.fromPartial({ collection, documentIds: [documentId] }), `document ${documentId}`),
    // One call however many ids (about 40 bytes each): all removed or, on failure, a retry removes the rest.
    deleteChunks: (collection, chunkIds) => remove(DeleteRequest.fromPartial({ collection, chunkIds }), `${chunkIds.length} stale chunks`),
  };
}
