import { AuthMethod, Principal, Role } from "#gen/rag/v1/identity.js";
import { UnauthenticatedError } from "#mesh/errors.js";
import { log } from "#mesh/logger.js";
import { OPERATOR_PERMISSIONS, permissionsOf, roleClaim, roleFromClaim } from "./roles.js";
import { hashSecret, parseApiKey, verifySecret } from "./secrets.js";
import type { TokenSigner } from "./signing.js";
import type { ApiKeyRow, IdentityStore } from "./store.js";

// One message per credential kind: a caller learns the credential failed, never which part of it.
const BAD_KEY = "invalid or revoked API key";
const BAD_TOKEN = "invalid access token";
const EXPIRED_TOKEN = "expired token";

/** Checks credentials and turns them into principals; issues access tokens for API keys. */
export class Authenticator {
  // A hash to check unknown prefixes against, so they cost the same time as known ones.
  private decoy = hashSecret("decoy");

  constructor(
    private readonly store: IdentityStore,
    private readonly signer: TokenSigner,
  ) {}

  /** The live key a secret belongs to, or UNAUTHENTICATED. Records the use. */
  async apiKey(value: string): Promise<ApiKeyRow> {
    const parsed = parseApiKey(value);
    if (!parsed) throw new UnauthenticatedError(BAD_KEY);
    const row = await this.store.apiKeyByPrefix(parsed.prefix);
    const matches = await verifySecret(parsed.secret, row?.secret_hash ?? (await this.decoy));
    if (!row || !matches || row.revoke_time !== null || (row.expire_time !== null && row.expire_time.getTime() <= Date.now())) {
      throw new UnauthenticatedError(BAD_KEY);
    }
    // Bookkeeping must not fail the request it describes.
    this.store.touchApiKey(row.tenant_id, row.api_key_id).catch((err: Error) => log.warn("could not record API key use", { error: err.message }));
    return row;
  }

  async principalForApiKey(value: string): Promise<Principal> {
    const row = await this.apiKey(value);
    return Principal.fromPartial({
      tenantId: row.tenant_id,
      userId: row.user_id,
      roles: [row.role],
      permissions: permissionsOf([row.role], row.operator ? OPERATOR_PERMISSIONS : []),
      authMethod: AuthMethod.AUTH_METHOD_API_KEY,
      apiKeyId: row.api_key_id,
      expireTime: row.expire_time ?? undefined,
    });
  }

  async principalForToken(token: string): Promise<Principal> {
    const check = await this.signer.verify(token.trim());
    if (!check.ok) throw new UnauthenticatedError(check.reason === "expired" ? EXPIRED_TOKEN : BAD_TOKEN);
    const { sub, tid, roles, akid, op, exp } = check.payload as { sub?: unknown; tid?: unknown; roles?: unknown; akid?: unknown; op?: unknown; exp?: number };
    const parsedRoles = Array.isArray(roles) ? roles.map(roleFromClaim) : [];
    if (typeof sub !== "string" || typeof tid !== "string" || typeof akid !== "string" || parsedRoles.length === 0 || parsedRoles.some((r) => r === undefined)) {
      throw new UnauthenticatedError(BAD_TOKEN);
    }
    const granted = parsedRoles as Role[];
    return Principal.fromPartial({
      tenantId: tid,
      userId: sub,
      roles: granted,
      permissions: permissionsOf(granted, op === true ? OPERATOR_PERMISSIONS : []),
      authMethod: AuthMethod.AUTH_METHOD_ACCESS_TOKEN,
      apiKeyId: akid,
      expireTime: exp !== undefined ? new Date(exp * 1000) : undefined,
    });
  }

  /** A signed access token for a live key, valid `ttlSeconds` but never past the key's own expiry. */
  async issueToken(value: string, ttlSeconds: number): Promise<{ token: string; expiresIn: number; expireTime: Date }> {
    const row = await this.apiKey(value);
    const now = Date.now();
    const issuedAt = Math.floor(now / 1000) * 1000;
    let expireTime = new Date(issuedAt + ttlSeconds * 1000);
    if (row.expire_time !== null && row.expire_time < expireTime) expireTime = new Date(Math.floor(row.expire_time.getTime() / 1000) * 1000);
    const token = await this.signer.sign(
      { sub: row.user_id, tid: row.tenant_id, roles: [roleClaim(row.role)], akid: row.api_key_id, ...(row.operator ? { op: true } : {}) },
      expireTime,
    );
    return { token, expiresIn: Math.max(0, Math.round((expireTime.getTime() - issuedAt) / 1000)), expireTime };
  }
}
