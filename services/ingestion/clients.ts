import { DocumentsServiceClient } from "#gen/rag/v1/documents.js";
import { EmbeddingsServiceClient } from "#gen/rag/v1/embeddings.js";
import { NotificationsServiceClient } from "#gen/rag/v1/notifications.js";
import { RetrievalServiceClient } from "#gen/rag/v1/retrieval.js";
import type { CallOptions, PromiseClient } from "#mesh/client.js";
import { REQUEST_ID_KEY, TENANT_KEY } from "#mesh/context.js";
import type { Runtime } from "#mesh/runtime.js";

/** The services a job calls. Jobs run in a detached context of their own (runner.ts); each call names its tenant too. */
export interface Clients {
  documents: PromiseClient<typeof DocumentsServiceClient.service>;
  embeddings: PromiseClient<typeof EmbeddingsServiceClient.service>;
  retrieval: PromiseClient<typeof RetrievalServiceClient.service>;
  notifications: PromiseClient<typeof NotificationsServiceClient.service>;
}

export function connectClients(runtime: Pick<Runtime, "connect">): Clients & { close(): void } {
  const clients: Clients = {
    documents: runtime.connect(DocumentsServiceClient, "documents"),
    embeddings: runtime.connect(EmbeddingsServiceClient, "embeddings"),
    retrieval: runtime.connect(RetrievalServiceClient, "retrieval"),
    notifications: runtime.connect(NotificationsServiceClient, "notifications"),
  };
  return { ...clients, close: () => Object.values(clients).forEach((c) => c.close()) };
}

/** Options for one outbound call of a job: its tenant, the job id as request id (log correlation), a budget. */
export function jobCallOptions(tenant: string, jobId: string, deadlineMs: number, signal?: AbortSignal): CallOptions {
  return { deadlineMs, signal, metadata: { [TENANT_KEY]: tenant, [REQUEST_ID_KEY]: jobId } };
}
