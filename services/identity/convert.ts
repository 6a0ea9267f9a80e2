import { ApiKey, HistoryEntry, Preferences, Tenant, User } from "#gen/rag/v1/identity.js";
import type { ApiKeyRow, HistoryRow, PreferencesRow, TenantRow, UserRow } from "./store.js";

export function toTenant(r: TenantRow): Tenant {
  return Tenant.fromPartial({ tenantId: r.tenant_id, displayName: r.display_name, createTime: r.create_time });
}

export function toUser(r: UserRow): User {
  return User.fromPartial({
    userId: r.user_id,
    tenantId: r.tenant_id,
    email: r.email,
    displayName: r.display_name,
    roles: r.roles,
    createTime: r.create_time,
    updateTime: r.update_time,
  });
}

export function toApiKey(r: ApiKeyRow): ApiKey {
  return ApiKey.fromPartial({
    apiKeyId: r.api_key_id,
    tenantId: r.tenant_id,
    userId: r.user_id,
    name: r.name,
    prefix: `rag_${r.prefix}`,
    role: r.role,
    createTime: r.create_time,
    expireTime: r.expire_time ?? undefined,
    lastUsedTime: r.last_used_time ?? undefined,
    revoked: r.revoke_time !== null,
    revokeTime: r.revoke_time ?? undefined,
  });
}

export function toPreferences(r: PreferencesRow): Preferences {
  return Preferences.fromPartial({
    defaultCollection: r.default_collection,
    defaultTopK: r.default_top_k,
    defaultModel: r.default_model,
    language: r.language,
    historyDisabled: r.history_disabled,
    custom: r.custom,
    updateTime: r.update_time ?? undefined,
  });
}

export function toHistoryEntry(r: HistoryRow): HistoryEntry {
  return HistoryEntry.fromPartial({
    historyId: r.history_id,
    userId: r.user_id,
    question: r.question,
    collection: r.collection,
    answer: r.answer,
    answered: r.answered,
    cached: r.cached,
    citedDocumentIds: r.cited_document_ids,
    model: r.model,
    totalMs: r.total_ms,
    createTime: r.create_time,
  });
}
