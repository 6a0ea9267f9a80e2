import { PermissionDeniedError } from "../errors.js";

/** Who is calling, as established from a verified token. */
export interface Principal {
  /** "user": an ES256 access token from identity; "service": a mesh service token (acting for `userId`, if any). */
  readonly kind: "user" | "service";
  /** Empty only for service calls made outside any tenant (e.g. the gateway authenticating an API key). */
  readonly tenantId: string;
  readonly userId: string | undefined;
  /** The calling service, for service tokens. */
  readonly service: string | undefined;
  readonly roles: readonly string[];
  readonly permissions: ReadonlySet<string>;
  /** The API key the token was issued for (user tokens): the rate-limit and audit subject. */
  readonly apiKeyId: string | undefined;
}

export function hasPermission(principal: Principal | undefined, permission: string): boolean {
  return principal !== undefined && principal.permissions.has(permission);
}

/** PERMISSION_DENIED naming what is missing, unless the principal holds `permission`. */
export function requirePermission(principal: Principal | undefined, permission: string, what?: string): void {
  if (hasPermission(principal, permission)) return;
  throw new PermissionDeniedError(`${what ?? "this call"} requires the "${permission}" permission${principal?.roles.length ? `, which role ${principal.roles.join(", ")} does not have` : ""}`);
}
