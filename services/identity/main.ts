import { IdentityServiceService } from "#gen/rag/v1/identity.js";
import { allNotImplemented } from "#mesh/handlers.js";
import { serve } from "#mesh/server.js";
import { runService } from "#mesh/service.js";

// The contract is served (health, reflection, every RPC) before its implementation lands: each RPC
// answers UNIMPLEMENTED rather than a made-up result.
await runService("identity", async () => ({
  services: [serve(IdentityServiceService, allNotImplemented(IdentityServiceService))],
}));
