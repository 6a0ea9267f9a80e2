import { IdentityServiceService } from "#gen/rag/v1/identity.js";
import { parseEnv } from "#mesh/config.js";
import { openDatabase } from "#mesh/postgres.js";
import { serve } from "#mesh/server.js";
import { runService } from "#mesh/service.js";
import { Authenticator } from "./authenticate.js";
import { bootstrap } from "./bootstrap.js";
import { identityEnvSchema } from "./config.js";
import { identityService } from "./handlers.js";
import { migrations } from "./migrations.js";
import { RevocationFeed } from "./revocations.js";
import { TokenSigner } from "./signing.js";
import { IdentityStore } from "./store.js";

let signer: TokenSigner | undefined;

await runService(
  "identity",
  async () => {
  const env = parseEnv(identityEnvSchema);
  const pool = await openDatabase(env.DATABASE_URL, migrations);
  const store = new IdentityStore(pool);
  await bootstrap(store, env.IDENTITY_BOOTSTRAP_ADMIN_KEY || undefined);
  signer = new TokenSigner(pool, env.IDENTITY_KEY_ROTATION_DAYS * 86_400_000);
  await signer.start();
  const revocations = new RevocationFeed(store);
  const impl = identityService({ store, signer, auth: new Authenticator(store, signer), revocations });
  return {
    services: [serve(IdentityServiceService, impl)],
    ready: async () => void (await pool.query("SELECT 1")),
    close: async () => {
      revocations.close();
      await pool.end();
    },
  };
},
  {
    // Every other service fetches these keys with GetJwks; identity reads its own store.
    keys: async () => {
      if (!signer) throw new Error("identity's signing keys are not loaded yet");
      return signer.jwks();
    },
  },
);
