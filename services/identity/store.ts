import type pg from "pg";
import { inTransaction } from "#mesh/postgres.js";
import type { Role } from "#gen/rag/v1/identity.js";

export interface TenantRow {
  tenant_id: string;
  display_name: string;
  create_time: Date;
}

export interface UserRow {
  tenant_id: string;
  user_id: string;
  email: string;
  display_name: string;
  roles: Role[];
  create_time: Date;
  update_time: Date;
}

export interface ApiKeyRow {
  tenant_id: string;
  api_key_id: string;
  seq: string;
  user_id: string;
  name: string;
  prefix: string;
  secret_hash: string;
  role: Role;
  operator: boolean;
  create_time: Date;
  expire_time: Date | null;
  last_used_time: Date | null;
  revoke_time: Date | null;
}

export interface RevocationRow {
  api_key_id: string;
  tenant_id: string;
  revoke_time: Date;
  recorded_time: Date;
}

export interface PreferencesRow {
  default_collection: string;
  default_top_k: number;
  default_model: string;
  language: string;
  history_disabled: boolean;
  custom: Record<string, string>;
  update_time: Date | null;
}

export interface HistoryRow {
  history_id: string;
  seq: string;
  user_id: string;
  question: string;
  collection: string;
  answer: string;
  answered: boolean;
  cached: boolean;
  cited_document_ids: string[];
  model: string;
  total_ms: number;
  create_time: Date;
}

export interface NewApiKey {
  tenantId: string;
  apiKeyId: string;
  userId: string;
  name: string;
  prefix: string;
  secretHash: string;
  role: Role;
  operator?: boolean;
  expireTime?: Date;
}

export type NewHistory = Omit<HistoryRow, "seq" | "create_time" | "user_id">;

type Queryable = pg.Pool | pg.PoolClient;

const USER_COLUMNS = "tenant_id, user_id, email, display_name, roles::int[] AS roles, create_time, update_time";
const KEY_COLUMNS = "tenant_id, api_key_id, seq, user_id, name, prefix, secret_hash, role::int AS role, operator, create_time, expire_time, last_used_time, revoke_time";
const PREF_COLUMNS = "default_collection, default_top_k, default_model, language, history_disabled, custom, update_time";
const HISTORY_COLUMNS = "history_id, seq, user_id, question, collection, answer, answered, cached, cited_document_ids, model, total_ms, create_time";
/** Proto: history entries are kept for 90 days. */
const HISTORY_RETENTION = "90 days";

export const DEFAULT_PREFERENCES: PreferencesRow = {
  default_collection: "",
  default_top_k: 0,
  default_model: "",
  language: "",
  history_disabled: false,
  custom: {},
  update_time: null,
};

/** Every query names its tenant (tenant administration apart): rows of other tenants are unreachable. */
export class IdentityStore {
  constructor(readonly pool: pg.Pool) {}

  transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, fn);
  }

  async countTenants(): Promise<number> {
    return Number((await this.pool.query<{ n: string }>("SELECT count(*) AS n FROM tenants")).rows[0]!.n);
  }

  async insertTenant(db: Queryable, tenantId: string, displayName: string): Promise<TenantRow | undefined> {
    const { rows } = await db.query<TenantRow>(
      "INSERT INTO tenants (tenant_id, display_name) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING tenant_id, display_name, create_time",
      [tenantId, displayName],
    );
    return rows[0];
  }

  async getTenant(tenantId: string): Promise<TenantRow | undefined> {
    return (await this.pool.query<TenantRow>("SELECT tenant_id, display_name, create_time FROM tenants WHERE tenant_id = $1", [tenantId])).rows[0];
  }

  async listTenants(limit: number, after: string | undefined): Promise<{ rows: TenantRow[]; more: boolean }> {
    const { rows } = await this.pool.query<TenantRow>(
      "SELECT tenant_id, display_name, create_time FROM tenants WHERE ($1::text IS NULL OR tenant_id > $1) ORDER BY tenant_id LIMIT $2",
      [after ?? null, limit + 1],
    );
    return page(rows, limit);
  }

  /** Locks the tenant's row: admin-count checks of concurrent user changes run one after the other. */
  async lockTenant(db: pg.PoolClient, tenantId: string): Promise<void> {
    await db.query("SELECT 1 FROM tenants WHERE tenant_id = $1 FOR UPDATE", [tenantId]);
  }

  async insertUser(db: Queryable, tenantId: string, userId: string, email: string, displayName: string, roles: Role[]): Promise<UserRow> {
    const { rows } = await db.query<UserRow>(
      `INSERT INTO users (tenant_id, user_id, email, display_name, roles) VALUES ($1, $2, $3, $4, $5) RETURNING ${USER_COLUMNS}`,
      [tenantId, userId, email, displayName, roles],
    );
    return rows[0]!;
  }

  async getUser(db: Queryable, tenantId: string, userId: string): Promise<UserRow | undefined> {
    return (await db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE tenant_id = $1 AND user_id = $2`, [tenantId, userId])).rows[0];
  }

  async listUsers(tenantId: string, role: Role | undefined, limit: number, after: string | undefined): Promise<{ rows: UserRow[]; more: boolean }> {
    const { rows } = await this.pool.query<UserRow>(
      `SELECT ${USER_COLUMNS} FROM users
        WHERE tenant_id = $1 AND ($2::smallint IS NULL OR $2 = ANY (roles)) AND ($3::text IS NULL OR email > $3)
        ORDER BY email LIMIT $4`,
      [tenantId, role ?? null, after ?? null, limit + 1],
    );
    return page(rows, limit);
  }

  async updateUser(db: Queryable, tenantId: string, userId: string, change: { email: string; displayName: string; roles: Role[] }): Promise<UserRow> {
    const { rows } = await db.query<UserRow>(
      `UPDATE users SET email = $3, display_name = $4, roles = $5, update_time = now() WHERE tenant_id = $1 AND user_id = $2 RETURNING ${USER_COLUMNS}`,
      [tenantId, userId, change.email, change.displayName, change.roles],
    );
    return rows[0]!;
  }

  /** Lowers the role of a user's keys that exceed `max`. */
  async capKeyRoles(db: Queryable, tenantId: string, userId: string, max: Role): Promise<void> {
    await db.query("UPDATE api_keys SET role = $3 WHERE tenant_id = $1 AND user_id = $2 AND role > $3", [tenantId, userId, max]);
  }

  async countAdmins(db: Queryable, tenantId: string, adminRole: Role): Promise<number> {
    const { rows } = await db.query<{ n: string }>("SELECT count(*) AS n FROM users WHERE tenant_id = $1 AND $2 = ANY (roles)", [tenantId, adminRole]);
    return Number(rows[0]!.n);
  }

  /** Deletes the user (keys, preferences and history cascade); returns how many live keys it had. */
  async deleteUser(db: Queryable, tenantId: string, userId: string): Promise<number> {
    const { rows } = await db.query<{ n: string }>(
      "SELECT count(*) AS n FROM api_keys WHERE tenant_id = $1 AND user_id = $2 AND revoke_time IS NULL",
      [tenantId, userId],
    );
    await db.query("DELETE FROM users WHERE tenant_id = $1 AND user_id = $2", [tenantId, userId]);
    return Number(rows[0]!.n);
  }

  async insertApiKey(db: Queryable, key: NewApiKey): Promise<ApiKeyRow> {
    const { rows } = await db.query<ApiKeyRow>(
      `INSERT INTO api_keys (tenant_id, api_key_id, user_id, name, prefix, secret_hash, role, operator, expire_time)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ${KEY_COLUMNS}`,
      [key.tenantId, key.apiKeyId, key.userId, key.name, key.prefix, key.secretHash, key.role, key.operator ?? false, key.expireTime ?? null],
    );
    return rows[0]!;
  }

  /** Authentication's lookup: by the clear prefix, across tenants (the key names its tenant). */
  async apiKeyByPrefix(prefix: string): Promise<ApiKeyRow | undefined> {
    return (await this.pool.query<ApiKeyRow>(`SELECT ${KEY_COLUMNS} FROM api_keys WHERE prefix = $1`, [prefix])).rows[0];
  }

  async getApiKey(tenantId: string, apiKeyId: string): Promise<ApiKeyRow | undefined> {
    return (await this.pool.query<ApiKeyRow>(`SELECT ${KEY_COLUMNS} FROM api_keys WHERE tenant_id = $1 AND api_key_id = $2`, [tenantId, apiKeyId])).rows[0];
  }

  async listApiKeys(
    tenantId: string,
    filter: { userId: string | undefined; includeRevoked: boolean },
    limit: number,
    afterSeq: string | undefined,
  ): Promise<{ rows: ApiKeyRow[]; more: boolean }> {
    const { rows } = await this.pool.query<ApiKeyRow>(
      `SELECT ${KEY_COLUMNS} FROM api_keys
        WHERE tenant_id = $1 AND ($2::uuid IS NULL OR user_id = $2) AND ($3 OR revoke_time IS NULL) AND ($4::bigint IS NULL OR seq < $4)
        ORDER BY seq DESC LIMIT $5`,
      [tenantId, filter.userId ?? null, filter.includeRevoked, afterSeq ?? null, limit + 1],
    );
    return page(rows, limit);
  }

  /** Revokes (keeping the first revoke time of an already revoked key) and records it for WatchRevocations. */
  async revokeApiKey(db: Queryable, tenantId: string, apiKeyId: string): Promise<ApiKeyRow | undefined> {
    const { rows } = await db.query<ApiKeyRow>(
      `UPDATE api_keys SET revoke_time = coalesce(revoke_time, now()) WHERE tenant_id = $1 AND api_key_id = $2 RETURNING ${KEY_COLUMNS}`,
      [tenantId, apiKeyId],
    );
    const row = rows[0];
    if (row) await this.recordRevocations(db, tenantId, [row.api_key_id]);
    return row;
  }

  /** Live admin keys of the tenant (not revoked, not expired), at most `limit`; `operatorOnly` for the operator's. */
  async liveAdminKeys(db: Queryable, tenantId: string, adminRole: Role, opts: { operatorOnly?: boolean } = {}): Promise<ApiKeyRow[]> {
    const { rows } = await db.query<ApiKeyRow>(
      `SELECT ${KEY_COLUMNS} FROM api_keys
        WHERE tenant_id = $1 AND role = $2 AND revoke_time IS NULL AND (expire_time IS NULL OR expire_time > now()) AND ($3 = false OR operator)
        ORDER BY seq LIMIT 100`,
      [tenantId, adminRole, opts.operatorOnly ?? false],
    );
    return rows;
  }

  /** Ids of the user's live keys (before a delete takes them with it). */
  async liveKeyIdsOfUser(db: Queryable, tenantId: string, userId: string): Promise<string[]> {
    const { rows } = await db.query<{ api_key_id: string }>(
      "SELECT api_key_id FROM api_keys WHERE tenant_id = $1 AND user_id = $2 AND revoke_time IS NULL",
      [tenantId, userId],
    );
    return rows.map((r) => r.api_key_id);
  }

  /** Records keys as revoked now, for WatchRevocations (a key already recorded keeps its first time). */
  async recordRevocations(db: Queryable, tenantId: string, apiKeyIds: string[]): Promise<void> {
    if (apiKeyIds.length === 0) return;
    await db.query(
      `INSERT INTO key_revocations (api_key_id, tenant_id, revoke_time) SELECT unnest($2::uuid[]), $1, now() ON CONFLICT (api_key_id) DO NOTHING`,
      [tenantId, apiKeyIds],
    );
  }

  /** Revocations recorded at or after `since` (all of those younger than `keepMs` when `since` is undefined). */
  async revocationsSince(since: Date | undefined, keepMs: number): Promise<RevocationRow[]> {
    const { rows } = await this.pool.query<RevocationRow>(
      `SELECT api_key_id, tenant_id, revoke_time, recorded_time FROM key_revocations
        WHERE recorded_time >= coalesce($1::timestamptz, clock_timestamp() - make_interval(secs => $2::double precision / 1000))
        ORDER BY recorded_time LIMIT 10000`,
      [since ?? null, keepMs],
    );
    return rows;
  }

  /** Forgets revocations older than `keepMs`: no token issued before them is valid any more. */
  async pruneRevocations(keepMs: number): Promise<void> {
    await this.pool.query("DELETE FROM key_revocations WHERE revoke_time < now() - make_interval(secs => $1::double precision / 1000)", [keepMs]);
  }

  /** Records use at most once a minute per key: authentication is on every request, writes need not be. */
  async touchApiKey(tenantId: string, apiKeyId: string): Promise<void> {
    await this.pool.query(
      "UPDATE api_keys SET last_used_time = now() WHERE tenant_id = $1 AND api_key_id = $2 AND (last_used_time IS NULL OR last_used_time < now() - interval '1 minute')",
      [tenantId, apiKeyId],
    );
  }

  async getPreferences(tenantId: string, userId: string): Promise<PreferencesRow | undefined> {
    return (await this.pool.query<PreferencesRow>(`SELECT ${PREF_COLUMNS} FROM preferences WHERE tenant_id = $1 AND user_id = $2`, [tenantId, userId])).rows[0];
  }

  async putPreferences(tenantId: string, userId: string, p: Omit<PreferencesRow, "update_time">): Promise<PreferencesRow> {
    const { rows } = await this.pool.query<PreferencesRow>(
      `INSERT INTO preferences (tenant_id, user_id, default_collection, default_top_k, default_model, language, history_disabled, custom)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (tenant_id, user_id) DO UPDATE SET default_collection = $3, default_top_k = $4, default_model = $5, language = $6,
         history_disabled = $7, custom = $8, update_time = now()
       RETURNING ${PREF_COLUMNS}`,
      [tenantId, userId, p.default_collection, p.default_top_k, p.default_model, p.language, p.history_disabled, p.custom],
    );
    return rows[0]!;
  }

  async appendHistory(tenantId: string, userId: string, entry: NewHistory): Promise<HistoryRow> {
    // Retention is enforced where history grows: the user's own expired entries go as a new one arrives.
    await this.pool.query(`DELETE FROM history WHERE tenant_id = $1 AND user_id = $2 AND create_time < now() - interval '${HISTORY_RETENTION}'`, [tenantId, userId]);
    // The same entry recorded twice (a retried ask: same request, same history id) is stored once.
    const { rows } = await this.pool.query<HistoryRow>(
      `INSERT INTO history (tenant_id, user_id, history_id, question, collection, answer, answered, cached, cited_document_ids, model, total_ms)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (tenant_id, history_id) DO NOTHING RETURNING ${HISTORY_COLUMNS}`,
      [tenantId, userId, entry.history_id, entry.question, entry.collection, entry.answer, entry.answered, entry.cached, entry.cited_document_ids, entry.model, entry.total_ms],
    );
    if (rows[0]) return rows[0];
    const existing = await this.pool.query<HistoryRow>(`SELECT ${HISTORY_COLUMNS} FROM history WHERE tenant_id = $1 AND history_id = $2`, [tenantId, entry.history_id]);
    return existing.rows[0]!;
  }

  async listHistory(tenantId: string, userId: string, collection: string | undefined, limit: number, afterSeq: string | undefined): Promise<{ rows: HistoryRow[]; more: boolean }> {
    const { rows } = await this.pool.query<HistoryRow>(
      `SELECT ${HISTORY_COLUMNS} FROM history
        WHERE tenant_id = $1 AND user_id = $2 AND ($3::text IS NULL OR collection = $3) AND ($4::bigint IS NULL OR seq < $4)
          AND create_time >= now() - interval '${HISTORY_RETENTION}'
        ORDER BY seq DESC LIMIT $5`,
      [tenantId, userId, collection ?? null, afterSeq ?? null, limit + 1],
    );
    return page(rows, limit);
  }
}

function page<T>(rows: T[], limit: number): { rows: T[]; more: boolean } {
  return { rows: rows.slice(0, limit), more: rows.length > limit };
}

export function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string })?.code === "23505";
}
