import { Role } from "#gen/rag/v1/identity.js";
import { OPERATOR_PERMISSION, isRoleName, permissionsOfRoles } from "#mesh/auth/permissions.js";

/** Role grants live in one table shared with every service's own checks: mesh/auth/permissions.ts. */
export const OPERATOR_PERMISSIONS = [OPERATOR_PERMISSION];

export const ASSIGNABLE_ROLES = [Role.ROLE_READER, Role.ROLE_EDITOR, Role.ROLE_ADMIN] as const;

export function isAssignable(role: Role): role is (typeof ASSIGNABLE_ROLES)[number] {
  return (ASSIGNABLE_ROLES as readonly Role[]).includes(role);
}

/** Sorted permissions of a set of roles, plus any extra ones (the operator's). */
export function permissionsOf(roles: Role[], extra: string[] = []): string[] {
  return permissionsOfRoles(roles.filter(isAssignable).map(roleClaim).filter(isRoleName), extra);
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
