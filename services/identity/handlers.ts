import { createHash, randomBytes, randomUUID } from "node:crypto";
import {
  IdentityServiceService,
  Role,
  type CreateTenantResponse,
  type GetJwksResponse,
  type UpdateUserRequest,
} from "#gen/rag/v1/identity.js";
import { requirePermission } from "#mesh/auth/index.js";
import { requireTenant, type CallContext } from "#mesh/context.js";
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError, UnauthenticatedError } from "#mesh/errors.js";
import type { ServiceImpl } from "#mesh/handlers.js";
import { decodePageToken, encodePageToken, PAGE_DEFAULTS, pageSize } from "#mesh/pagination.js";
import { createApiKey, createTenantWithAdmin } from "./accounts.js";
import type { Authenticator } from "./authenticate.js";
import type { RevocationFeed } from "./revocations.js";
import { toApiKey, toHistoryEntry, toPreferences, toTenant, toUser } from "./convert.js";
import { applyPreferences } from "./preferences.js";
import { highestRole } from "./roles.js";
import { MAX_TOKEN_TTL_S, type TokenSigner } from "./signing.js";
import { DEFAULT_PREFERENCES, isUniqueViolation, type IdentityStore, type UserRow } from "./store.js";
import * as valid from "./validate.js";

export interface IdentityDeps {
  store: IdentityStore;
  auth: Authenticator;
  signer: TokenSigner;
  /** WatchRevocations' source; told when this process revokes a key. */
  revocations: RevocationFeed;
}

/** Why the last admin key, and the operator's key, cannot go: without them nobody can administer the tenant (or create tenants). */
export const LAST_ADMIN_KEY =
  "this is the tenant's last live admin API key: without it nobody could administer the tenant; create another admin key (POST /v1/apiKeys with role ROLE_ADMIN) first, then revoke this one";
export const OPERATOR_KEY =
  "this is the operator's bootstrap key, the only key that may create tenants (tenants.manage); it cannot be revoked or deleted over the API";

const DEFAULT_TOKEN_TTL_S = 900;
/** Longest a WatchRevocations stream stays open before the watcher reconnects. */
const MAX_WATCH_S = 3600;
const MAX_ANSWER = 2000;
const USER_PATHS = ["email", "display_name", "roles"] as const;

/**
 * Authorisation split: the mesh verifies the caller's token and each RPC's permission
 * (mesh/auth/permissions.ts) before a handler runs; the token names the tenant and the user. Here every
 * tenant-scoped RPC is confined to that tenant (requireTenant), and "own" objects (keys, preferences,
 * history) to that user; another user's keys need users.manage.
 * Not tenant-scoped: CreateTenant and ListTenants (operator administration across tenants,
 * tenants.manage), Authenticate and IssueToken (the credential names its tenant: no tenant is known
 * before it is checked) and GetJwks (public keys, for anyone).
 */
export function identityService(deps: IdentityDeps): ServiceImpl<typeof IdentityServiceService> {
  const { store, auth, signer, revocations } = deps;

  /** FAILED_PRECONDITION when a change would leave the tenant without a live admin key, or remove the operator's key. */
  async function keepAdminKeys(db: Parameters<IdentityStore["liveAdminKeys"]>[0], tenant: string, going: Set<string>, adminKeysBefore?: number): Promise<void> {
    const operatorKeys = await store.liveAdminKeys(db, tenant, Role.ROLE_ADMIN, { operatorOnly: true });
    if (operatorKeys.some((k) => going.has(k.api_key_id)) && operatorKeys.every((k) => going.has(k.api_key_id))) throw new FailedPreconditionError(OPERATOR_KEY);
    const adminKeys = await store.liveAdminKeys(db, tenant, Role.ROLE_ADMIN);
    const before = adminKeysBefore ?? adminKeys.length;
    if (before > 0 && adminKeys.every((k) => going.has(k.api_key_id))) throw new FailedPreconditionError(LAST_ADMIN_KEY);
  }

  async function caller(ctx: CallContext, tenant: string): Promise<UserRow> {
    const id = ctx.callerId;
    const user = id && valid.isUuid(id) ? await store.getUser(store.pool, tenant, id) : undefined;
    if (!user) throw new UnauthenticatedError('missing or unknown caller: send metadata "x-caller-id" with the user id of the tenant');
    return user;
  }

  async function userOf(tenant: string, field: string, id: string): Promise<UserRow> {
    const userId = valid.requiredId(field, id);
    const user = valid.isUuid(userId) ? await store.getUser(store.pool, tenant, userId) : undefined;
    if (!user) throw new NotFoundError("user", userId);
    return user;
  }

  return {
    async createTenant(req): Promise<CreateTenantResponse> {
      const displayName = valid.requiredName("display_name", req.displayName);
      const adminEmail = valid.email("admin_email", req.adminEmail);
      const tenantId = req.tenantId === "" ? `t-${randomBytes(5).toString("hex")}` : valid.tenantId("tenant_id", req.tenantId);
      const created = await createTenantWithAdmin(store, { tenantId, displayName, adminEmail });
      return {
        tenant: toTenant(created.tenant),
        adminUser: toUser(created.admin),
        adminApiKey: toApiKey(created.key),
        adminApiKeySecret: created.secret,
      };
    },

    // Tenant-scoped: a caller reads its own tenant; any other is NOT_FOUND (operators use ListTenants).
    async getTenant(req, ctx) {
      const tenant = requireTenant(ctx);
      const id = valid.requiredId("tenant_id", req.tenantId);
      const row = id === tenant ? await store.getTenant(id) : undefined;
      if (!row) throw new NotFoundError("tenant", id);
      return { tenant: toTenant(row) };
    },

    async listTenants(req) {
      const limit = pageSize(req.pageSize, PAGE_DEFAULTS);
      const after = decodePageToken<{ id: string }>(req.pageToken, {});
      const { rows, more } = await store.listTenants(limit, after?.id);
      return { tenants: rows.map(toTenant), nextPageToken: more ? encodePageToken({ id: rows.at(-1)!.tenant_id }, {}) : "" };
    },

    async createUser(req, ctx) {
      const tenant = requireTenant(ctx);
      const email = valid.email("email", req.email);
      const displayName = valid.optionalName("display_name", req.displayName);
      const roles = valid.roles("roles", req.roles);
      try {
        return { user: toUser(await store.insertUser(store.pool, tenant, randomUUID(), email, displayName, roles)) };
      } catch (err) {
        if (isUniqueViolation(err)) throw new AlreadyExistsError("user with email", email);
        throw err;
      }
    },

    async getUser(req, ctx) {
      return { user: toUser(await userOf(requireTenant(ctx), "user_id", req.userId)) };
    },

    async listUsers(req, ctx) {
      const tenant = requireTenant(ctx);
      const role = req.role === Role.ROLE_UNSPECIFIED ? undefined : valid.role("role", req.role);
      const limit = pageSize(req.pageSize, PAGE_DEFAULTS);
      const after = decodePageToken<{ email: string }>(req.pageToken, { role });
      const { rows, more } = await store.listUsers(tenant, role, limit, after?.email);
      return { users: rows.map(toUser), nextPageToken: more ? encodePageToken({ email: rows.at(-1)!.email }, { role }) : "" };
    },

    async updateUser(req, ctx) {
      const tenant = requireTenant(ctx);
      const current = await userOf(tenant, "user_id", req.userId);
      const change = userChange(current, req);
      try {
        const updated = await store.transaction(async (db) => {
          await store.lockTenant(db, tenant);
          const adminKeysBefore = (await store.liveAdminKeys(db, tenant, Role.ROLE_ADMIN)).length;
          const user = await store.updateUser(db, tenant, current.user_id, change);
          if ((await store.countAdmins(db, tenant, Role.ROLE_ADMIN)) === 0) {
            throw new FailedPreconditionError("the tenant would have no administrator left: grant ROLE_ADMIN to another user first");
          }
          await store.capKeyRoles(db, tenant, current.user_id, highestRole(change.roles));
          await keepAdminKeys(db, tenant, new Set(), adminKeysBefore);
          return user;
        });
        return { user: toUser(updated) };
      } catch (err) {
        if (isUniqueViolation(err)) throw new AlreadyExistsError("user with email", change.email);
        throw err;
      }
    },

    async deleteUser(req, ctx) {
      const tenant = requireTenant(ctx);
      const user = await userOf(tenant, "user_id", req.userId);
      const revoked = await store.transaction(async (db) => {
        await store.lockTenant(db, tenant);
        const keys = await store.liveKeyIdsOfUser(db, tenant, user.user_id);
        await keepAdminKeys(db, tenant, new Set(keys));
        // Its keys go with it: announced like revocations, so the gateways refuse their tokens at once.
        await store.recordRevocations(db, tenant, keys);
        const count = await store.deleteUser(db, tenant, user.user_id);
        if ((await store.countAdmins(db, tenant, Role.ROLE_ADMIN)) === 0) {
          throw new FailedPreconditionError("cannot delete the tenant's last administrator");
        }
        return count;
      });
      revocations.kick();
      return { revokedApiKeyCount: revoked };
    },

    async createApiKey(req, ctx) {
      const tenant = requireTenant(ctx);
      const name = valid.requiredName("name", req.name);
      const role = valid.role("role", req.role);
      if (req.expireTime && req.expireTime.getTime() <= Date.now()) throw new InvalidArgumentError("expire_time", "must be in the future");
      const owner = req.userId === "" ? await caller(ctx, tenant) : await userOf(tenant, "user_id", req.userId);
      if (owner.user_id !== ctx.callerId) requirePermission(ctx.principal, "users.manage", "creating an API key for another user");
      const ceiling = highestRole(owner.roles);
      if (role > ceiling) throw new InvalidArgumentError("role", `${Role[role]} exceeds the user's highest role ${Role[ceiling]}`);
      const { key, secret } = await createApiKey(store, { tenantId: tenant, userId: owner.user_id, name, role, expireTime: req.expireTime });
      return { apiKey: toApiKey(key), secret };
    },

    async listApiKeys(req, ctx) {
      const tenant = requireTenant(ctx);
      const userId = req.userId === "-" ? undefined : req.userId === "" ? (await caller(ctx, tenant)).user_id : (await userOf(tenant, "user_id", req.userId)).user_id;
      if (userId !== ctx.callerId) requirePermission(ctx.principal, "users.manage", "listing other users' API keys");
      const filter = { userId, includeRevoked: req.includeRevoked };
      const limit = pageSize(req.pageSize, PAGE_DEFAULTS);
      const after = decodePageToken<{ seq: string }>(req.pageToken, filter);
      const { rows, more } = await store.listApiKeys(tenant, filter, limit, after?.seq);
      return { apiKeys: rows.map(toApiKey), nextPageToken: more ? encodePageToken({ seq: rows.at(-1)!.seq }, filter) : "" };
    },

    async revokeApiKey(req, ctx) {
      const tenant = requireTenant(ctx);
      const id = valid.requiredId("api_key_id", req.apiKeyId);
      const key = valid.isUuid(id) ? await store.getApiKey(tenant, id) : undefined;
      if (!key) throw new NotFoundError("API key", id);
      if (key.user_id !== ctx.callerId) requirePermission(ctx.principal, "users.manage", "revoking another user's API key");
      const row = await store.transaction(async (db) => {
        await store.lockTenant(db, tenant);
        await keepAdminKeys(db, tenant, new Set([id]));
        return store.revokeApiKey(db, tenant, id);
      });
      if (!row) throw new NotFoundError("API key", id);
      revocations.kick();
      return { apiKey: toApiKey(row) };
    },

    async authenticate(req) {
      const cred = req.credential;
      if (!cred || cred.value.trim() === "") throw new InvalidArgumentError("credential", "set exactly one of api_key or access_token");
      const principal = cred.$case === "apiKey" ? await auth.principalForApiKey(cred.value) : await auth.principalForToken(cred.value);
      return { principal };
    },

    watchRevocations(req, ctx) {
      if (!Number.isInteger(req.watchSeconds) || req.watchSeconds < 0 || req.watchSeconds > MAX_WATCH_S) {
        throw new InvalidArgumentError("watch_seconds", `must be 0-${MAX_WATCH_S}, got ${req.watchSeconds}`);
      }
      return revocations.watch(ctx.signal, Date.now() + req.watchSeconds * 1000, ctx.deadline);
    },

    async issueToken(req, ctx) {
      if (req.ttlSeconds < 0 || req.ttlSeconds > MAX_TOKEN_TTL_S) throw new InvalidArgumentError("ttl_seconds", `must be 0-${MAX_TOKEN_TTL_S}, got ${req.ttlSeconds}`);
      const key = req.apiKey !== "" ? req.apiKey : presentedApiKey(ctx);
      if (!key) throw new UnauthenticatedError('no API key: set api_key or send "authorization: Bearer <API key>"');
      const issued = await auth.issueToken(key, req.ttlSeconds || DEFAULT_TOKEN_TTL_S);
      return { accessToken: issued.token, tokenType: "Bearer", expiresIn: issued.expiresIn, expireTime: issued.expireTime };
    },

    async getJwks(): Promise<GetJwksResponse> {
      return {
        keys: (await signer.jwks()).map((k) => ({ kty: k.kty!, kid: k.kid!, use: "sig", alg: k.alg!, crv: k.crv, x: k.x, y: k.y, n: k.n, e: k.e })),
      };
    },

    async getPreferences(_req, ctx) {
      const tenant = requireTenant(ctx);
      const user = await caller(ctx, tenant);
      return { preferences: toPreferences((await store.getPreferences(tenant, user.user_id)) ?? DEFAULT_PREFERENCES) };
    },

    async updatePreferences(req, ctx) {
      const tenant = requireTenant(ctx);
      const user = await caller(ctx, tenant);
      const current = (await store.getPreferences(tenant, user.user_id)) ?? DEFAULT_PREFERENCES;
      return { preferences: toPreferences(await store.putPreferences(tenant, user.user_id, applyPreferences(current, req))) };
    },

    async recordQuery(req, ctx) {
      const tenant = requireTenant(ctx);
      const user = await caller(ctx, tenant);
      const question = req.question.trim();
      if (question === "") throw new InvalidArgumentError("question", "required");
      const prefs = await store.getPreferences(tenant, user.user_id);
      if (prefs?.history_disabled) return { entry: undefined };
      const row = await store.appendHistory(tenant, user.user_id, {
        history_id: historyId(tenant, user.user_id, ctx.requestId),
        question,
        collection: req.collection,
        answer: [...req.answer].slice(0, MAX_ANSWER).join(""),
        answered: req.answered,
        cached: req.cached,
        cited_document_ids: req.citedDocumentIds,
        model: req.model,
        total_ms: req.totalMs,
      });
      return { entry: toHistoryEntry(row) };
    },

    async getHistory(req, ctx) {
      const tenant = requireTenant(ctx);
      const user = await caller(ctx, tenant);
      const collection = req.collection === "" ? undefined : req.collection;
      const limit = pageSize(req.pageSize, PAGE_DEFAULTS);
      const after = decodePageToken<{ seq: string }>(req.pageToken, { collection });
      const { rows, more } = await store.listHistory(tenant, user.user_id, collection, limit, after?.seq);
      return { entries: rows.map(toHistoryEntry), nextPageToken: more ? encodePageToken({ seq: rows.at(-1)!.seq }, { collection }) : "" };
    },
  };
}

/**
 * One history entry per request: the id is derived from the request id the ask carried, so an ask that was
 * retried (Ask is IDEMPOTENT: a replica died before it answered) records its question once, not per attempt.
 * Formatted as an RFC 9562 version 8 (custom) UUID.
 */
export function historyId(tenant: string, userId: string, requestId: string): string {
  const h = createHash("sha256").update(`${tenant}\0${userId}\0${requestId}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x80;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** The user after an UpdateUser: masked fields take the request's value; no mask, the non-empty ones. */
function userChange(current: UserRow, req: UpdateUserRequest): { email: string; displayName: string; roles: Role[] } {
  const masked = valid.maskPaths(req.updateMask, USER_PATHS);
  // Every value sent is held to the rules, masked or not: a field the mask leaves out is ignored, but a bad
  // value in it is still a bad request, not silently dropped.
  if (req.email !== "") valid.email("email", req.email);
  if (req.displayName !== "") valid.optionalName("display_name", req.displayName);
  if (req.roles.length > 0) valid.roles("roles", req.roles);
  const touches = (path: (typeof USER_PATHS)[number], nonEmpty: boolean) => (masked.length > 0 ? masked.includes(path) : nonEmpty);
  return {
    email: touches("email", req.email !== "") ? valid.email("email", req.email) : current.email,
    displayName: touches("display_name", req.displayName !== "") ? valid.optionalName("display_name", req.displayName) : current.display_name,
    roles: touches("roles", req.roles.length > 0) ? valid.roles("roles", req.roles) : current.roles,
  };
}

/** An API key sent as the call's own credential: "authorization: Bearer <key>" or "x-api-key". */
function presentedApiKey(ctx: CallContext): string | undefined {
  const header = ctx.metadata.get("authorization")[0];
  if (typeof header === "string" && /^bearer\s+rag_/i.test(header)) return header.replace(/^bearer\s+/i, "");
  const direct = ctx.metadata.get("x-api-key")[0];
  return typeof direct === "string" && direct !== "" ? direct : undefined;
}
