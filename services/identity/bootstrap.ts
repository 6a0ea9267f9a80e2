import { log } from "#mesh/logger.js";
import { AlreadyExistsError } from "#mesh/errors.js";
import { createTenantWithAdmin } from "./accounts.js";
import { parseApiKey } from "./secrets.js";
import type { IdentityStore } from "./store.js";

export const BOOTSTRAP_TENANT = "default";
const BOOTSTRAP_EMAIL = "admin@localhost";

/**
 * First start (no tenant at all): creates tenant "default" with an administrator and the operator's admin
 * key, the only key holding tenants.manage. The key is IDENTITY_BOOTSTRAP_ADMIN_KEY when set; otherwise
 * one is generated and logged once, at warn level, since it is shown nowhere else. Later starts do nothing.
 */
export async function bootstrap(store: IdentityStore, givenKey: string | undefined): Promise<void> {
  if ((await store.countTenants()) > 0) return;
  const adminKey = givenKey ? parseApiKey(givenKey) : undefined;
  try {
    const created = await createTenantWithAdmin(store, {
      tenantId: BOOTSTRAP_TENANT,
      displayName: "Default tenant",
      adminEmail: BOOTSTRAP_EMAIL,
      adminKey,
      operator: true,
    });
    if (adminKey) {
      log.info("bootstrap: created tenant \"default\" with the admin key from IDENTITY_BOOTSTRAP_ADMIN_KEY", { tenant: BOOTSTRAP_TENANT, apiKeyId: created.key.api_key_id });
    } else {
      log.warn(
        "bootstrap: created tenant \"default\" and its admin API key. This key is shown ONLY NOW; store it safely (set IDENTITY_BOOTSTRAP_ADMIN_KEY to choose it instead)",
        { tenant: BOOTSTRAP_TENANT, userId: created.admin.user_id, apiKeyId: created.key.api_key_id, adminApiKey: created.secret },
      );
    }
  } catch (err) {
    // Another replica bootstrapped at the same moment: its key is the one.
    if (!(err instanceof AlreadyExistsError)) throw err;
  }
}
