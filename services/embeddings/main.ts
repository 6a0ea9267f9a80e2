import { EmbeddingsServiceService } from "#gen/rag/v1/embeddings.js";
import { allNotImplemented } from "#mesh/handlers.js";
import { serve } from "#mesh/server.js";
import { runService } from "#mesh/service.js";

// The contract is served (health, reflection, every RPC) before its implementation lands: each RPC
// answers UNIMPLEMENTED rather than a made-up result.
await runService("embeddings", async () => ({
  services: [serve(EmbeddingsServiceService, allNotImplemented(EmbeddingsServiceService))],
}));
