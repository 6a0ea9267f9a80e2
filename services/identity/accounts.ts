import { randomUUID } from "node:crypto";
import { AlreadyExistsError, InvalidArgumentError } from "#mesh/errors.js";
import { Role } from "#gen/rag/v1/identity.js";
import { generateApiKey, hashSecret, type ParsedApiKey } from "./secrets.js";
import { isUniqueViolation, type ApiKeyRow, type IdentityStore, type TenantRow, type UserRow } from "./store.js";
import type pg from "pg";

export interface NewTenant {
  tenantId: string;
  displayName: string;
  adminEmail: string;
  /** A given admin key (the operator's bootstrap key); generated when absent. */
  adminKey?: ParsedApiKey;
  /** Whether the admin key carries tenants.manage (only the bootstrap key does). */
  operator?: boolean;
}

export interface CreatedTenant {
  tenant: TenantRow;
  admin: UserRow;
  key: ApiKeyRow;
  secret: string;
}

/** A tenant, its first administrator and an admin API key, all or nothing. */
export async function createTenantWithAdmin(store: IdentityStore, t: NewTenant): Promise<CreatedTenant> {
  const generated = t.adminKey ? undefined : generateApiKey();
  const key = t.adminKey ?? generated!;
  const secretHash = await hashSecret(key.secret);
  return store.transaction(async (db) => {
    const tenant = await store.insertTenant(db, t.tenantId, t.displayName);
    if (!tenant) throw new AlreadyExistsError("tenant", t.tenantId);
    const admin = await store.insertUser(db, t.tenantId, randomUUID(), t.adminEmail, "", [Role.ROLE_ADMIN]);
    const row = await insertKey(store, db, {
      tenantId: t.tenantId,
      apiKeyId: randomUUID(),
      userId: admin.user_id,
      name: "admin",
      prefix: key.prefix,
      secretHash,
      role: Role.ROLE_ADMIN,
      operator: t.operator ?? false,
    });
    return { tenant, admin, key: row, secret: `rag_${key.prefix}_${key.secret}` };
  });
}

/** A new key with a generated secret, returned once. */
export async function createApiKey(
  store: IdentityStore,
  k: { tenantId: string; userId: string; name: string; role: Role; expireTime?: Date },
): Promise<{ key: ApiKeyRow; secret: string }> {
  const { full, prefix, secret } = generateApiKey();
  const row = await insertKey(store, store.pool, { ...k, apiKeyId: randomUUID(), prefix, secretHash: await hashSecret(secret) });
  return { key: row, secret: full };
}

async function insertKey(store: IdentityStore, db: pg.Pool | pg.PoolClient, k: Parameters<IdentityStore["insertApiKey"]>[1]): Promise<ApiKeyRow> {
  try {
    return await store.insertApiKey(db, k);
  } catch (err) {
    // 48 random bits of prefix: a clash is a given bootstrap key reused, not bad luck.
    if (isUniqueViolation(err)) throw new InvalidArgumentError("api_key", "this key prefix is already in use; generate another key");
    throw err;
  }
}
