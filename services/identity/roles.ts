import { Role } from "#gen/rag/v1/identity.js";

/**
 * The one table of what each role may do, as "<resource>.<verb>" permissions. Each role includes the
 * roles below it (proto: ROLE_ADMIN > ROLE_EDITOR > ROLE_READER). The gateway enforces these; identity
 * only computes them for Authenticate.
 *
 *   READER  collections.read documents.read history.read jobs.read keys.manage (own keys)
 *           preferences.manage (own) query.ask
 *   EDITOR  + collections.write documents.write ingestion.run jobs.write
 *   ADMIN   + subscriptions.manage users.manage webhooks.manage
 *
 * `tenants.manage` belongs to no role: only the operator's bootstrap key carries it (OPERATOR_PERMISSIONS).
 */
const GRANTS: Record<Role.ROLE_READER | Role.ROLE_EDITOR | Role.ROLE_ADMIN, string[]> = {
  [Role.ROLE_READER]: ["collections.read", "documents.read", "history.read", "jobs.read", "keys.manage", "preferences.manage", "query.ask"],
  [Role.ROLE_EDITOR]: ["collections.write", "documents.write", "ingestion.run", "jobs.write"],
  [Role.ROLE_ADMIN]: ["subscriptions.manage", "users.manage", "webhooks.manage"],
};

export const OPERATOR_PERMISSIONS = ["tenants.manage"];

export const ASSIGNABLE_ROLES = [Role.ROLE_READER, Role.ROLE_EDITOR, Role.ROLE_ADMIN] as const;

export function isAssignable(role: Role): role is (typeof ASSIGNABLE_ROLES)[number] {
  return (ASSIGNABLE_ROLES as readonly Role[]).includes(role);
}

/** Sorted permissions of a set of roles, plus any extra ones (the operator's). */
export function permissionsOf(roles: Role[], extra: string[] = []): string[] {
  const all = new Set(extra);
  for (const role of ASSIGNABLE_ROLES) {
    if (roles.some((r) => r >= role)) GRANTS[role].forEach((p) => all.add(p));
  }
  return [...all].sort();
}

export function highestRole(roles: Role[]): Role {
  return roles.filter(isAssignable).reduce<Role>((a, b) => (b > a ? b : a), Role.ROLE_UNSPECIFIED);
}

/** Role names as they appear in JWT claims: "ADMIN", "EDITOR", "READER". */
export function roleClaim(role: Role): string {
  return Role[role].replace(/^ROLE_/, "");
}

export function roleFromClaim(name: unknown): Role | undefined {
  const role = typeof name === "string" ? (Role as unknown as Record<string, Role>)[`ROLE_${name}`] : undefined;
  return role !== undefined && isAssignable(role) ? role : undefined;
}
