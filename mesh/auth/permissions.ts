/**
 * Who may call what: the one table of role grants and the permission each RPC requires. The gateway checks
 * it before forwarding (to answer early with 403) and every service checks it again on every call, so a
 * client that reaches a service directly meets the same rules.
 *
 * Roles include the roles below them (ADMIN > EDITOR > READER):
 *   READER  collections.read documents.read history.read jobs.read keys.manage (own keys) models.use
 *           preferences.manage (own) query.ask
 *   EDITOR  + collections.write documents.write ingestion.run jobs.write
 *   ADMIN   + users.manage webhooks.manage
 * `tenants.manage` belongs to no role: only the operator's bootstrap key carries it.
 * `internal.call` belongs to no role: only services (service tokens) carry it.
 */
export const ROLE_NAMES = ["READER", "EDITOR", "ADMIN"] as const;
export type RoleName = (typeof ROLE_NAMES)[number];

const GRANTS: Record<RoleName, string[]> = {
  READER: ["collections.read", "documents.read", "history.read", "jobs.read", "keys.manage", "models.use", "preferences.manage", "query.ask"],
  EDITOR: ["collections.write", "documents.write", "ingestion.run", "jobs.write"],
  ADMIN: ["users.manage", "webhooks.manage"],
};

export const OPERATOR_PERMISSION = "tenants.manage";
export const INTERNAL_PERMISSION = "internal.call";
/** Any authenticated caller of the tenant. */
export const AUTHENTICATED = "authenticated";
/** No credentials needed (the request itself carries the credential, or the data is public). */
export const PUBLIC = "public";

export function isRoleName(name: unknown): name is RoleName {
  return typeof name === "string" && (ROLE_NAMES as readonly string[]).includes(name);
}

/** Sorted permissions of a set of roles, plus any extra ones. */
export function permissionsOfRoles(roles: readonly RoleName[], extra: readonly string[] = []): string[] {
  const all = new Set(extra);
  const highest = Math.max(-1, ...roles.map((r) => ROLE_NAMES.indexOf(r)));
  for (let i = 0; i <= highest; i++) GRANTS[ROLE_NAMES[i]!].forEach((p) => all.add(p));
  return [...all].sort();
}

/** What a service token may do: everything a tenant's admin may, plus the internal RPCs; never tenants.manage. */
export const SERVICE_PERMISSIONS: readonly string[] = permissionsOfRoles(["ADMIN"], [INTERNAL_PERMISSION]);

/** The permission each RPC requires, by full method path. A method missing here cannot be served (bindService refuses it). */
const METHOD_PERMISSIONS: Record<string, string> = {
  "/rag.v1.DocumentsService/CreateDocument": "documents.write",
  "/rag.v1.DocumentsService/GetDocument": "documents.read",
  "/rag.v1.DocumentsService/ListDocuments": "documents.read",
  "/rag.v1.DocumentsService/UpdateDocument": "documents.write",
  "/rag.v1.DocumentsService/DeleteDocument": "documents.write",
  "/rag.v1.DocumentsService/ListChunks": "documents.read",
  "/rag.v1.DocumentsService/UpdateDocumentStatus": INTERNAL_PERMISSION,

  "/rag.v1.IngestionService/StartJob": "ingestion.run",
  "/rag.v1.IngestionService/GetJob": "jobs.read",
  "/rag.v1.IngestionService/ListJobs": "jobs.read",
  "/rag.v1.IngestionService/CancelJob": "jobs.write",
  "/rag.v1.IngestionService/WatchJob": "jobs.read",

  "/rag.v1.EmbeddingsService/Embed": "models.use",
  "/rag.v1.GenerationService/Generate": "models.use",
  "/rag.v1.GenerationService/GenerateStream": "models.use",

  "/rag.v1.RetrievalService/Upsert": "collections.write",
  "/rag.v1.RetrievalService/Delete": "collections.write",
  "/rag.v1.RetrievalService/Search": "collections.read",
  "/rag.v1.RetrievalService/GetCollection": "collections.read",
  "/rag.v1.RetrievalService/ListCollections": "collections.read",

  "/rag.v1.QueryService/Ask": "query.ask",
  "/rag.v1.QueryService/AskStream": "query.ask",
  "/rag.v1.QueryService/SubmitAsk": "query.ask",
  "/rag.v1.QueryService/GetAskResult": "query.ask",

  "/rag.v1.IdentityService/CreateTenant": OPERATOR_PERMISSION,
  "/rag.v1.IdentityService/ListTenants": OPERATOR_PERMISSION,
  "/rag.v1.IdentityService/GetTenant": AUTHENTICATED,
  "/rag.v1.IdentityService/CreateUser": "users.manage",
  "/rag.v1.IdentityService/GetUser": "users.manage",
  "/rag.v1.IdentityService/ListUsers": "users.manage",
  "/rag.v1.IdentityService/UpdateUser": "users.manage",
  "/rag.v1.IdentityService/DeleteUser": "users.manage",
  "/rag.v1.IdentityService/CreateApiKey": "keys.manage",
  "/rag.v1.IdentityService/ListApiKeys": "keys.manage",
  "/rag.v1.IdentityService/RevokeApiKey": "keys.manage",
  "/rag.v1.IdentityService/Authenticate": INTERNAL_PERMISSION,
  "/rag.v1.IdentityService/WatchRevocations": INTERNAL_PERMISSION,
  "/rag.v1.IdentityService/IssueToken": PUBLIC,
  "/rag.v1.IdentityService/GetJwks": PUBLIC,
  "/rag.v1.IdentityService/GetPreferences": "preferences.manage",
  "/rag.v1.IdentityService/UpdatePreferences": "preferences.manage",
  "/rag.v1.IdentityService/RecordQuery": INTERNAL_PERMISSION,
  "/rag.v1.IdentityService/GetHistory": "history.read",

  "/rag.v1.NotificationsService/Subscribe": "webhooks.manage",
  "/rag.v1.NotificationsService/GetSubscription": "webhooks.manage",
  "/rag.v1.NotificationsService/ListSubscriptions": "webhooks.manage",
  "/rag.v1.NotificationsService/EnableSubscription": "webhooks.manage",
  "/rag.v1.NotificationsService/Unsubscribe": "webhooks.manage",
  "/rag.v1.NotificationsService/ListDeliveries": "webhooks.manage",
  "/rag.v1.NotificationsService/Publish": INTERNAL_PERMISSION,
};

/** Permissions of methods outside rag.v1 (a rag.v2 service, a test service), by full method path. */
export function declareMethodPermissions(table: Readonly<Record<string, string>>): void {
  for (const [path, permission] of Object.entries(table)) {
    const known = METHOD_PERMISSIONS[path];
    if (known && known !== permission) throw new Error(`${path} already requires "${known}"`);
    METHOD_PERMISSIONS[path] = permission;
  }
}

export function methodPermissions(): Readonly<Record<string, string>> {
  return METHOD_PERMISSIONS;
}

/** The permission `path` requires; throws for a method nobody has classified (fail closed). */
export function requiredPermission(path: string): string {
  const p = METHOD_PERMISSIONS[path];
  if (!p) throw new Error(`no permission is declared for ${path}: add it to mesh/auth/permissions.ts`);
  return p;
}
