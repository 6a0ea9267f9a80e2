import { InvalidArgumentError } from "#mesh/errors.js";
import { notLongerThan } from "#mesh/rules.js";
export { isUuid, requiredId } from "#mesh/rules.js";
import { Role } from "#gen/rag/v1/identity.js";
import { isAssignable } from "./roles.js";

const TENANT_ID = /^[a-z][a-z0-9-]{2,62}$/;
// Deliberately loose: one "@", something on each side, a dot in the domain, no spaces.
// Spelled out, not left to \s: the same pattern is in identity.proto, and regex engines (the gateway's
// clients validate against the OpenAPI document) disagree on what \s covers (U+001C–U+001F, U+0085, U+FEFF).
const EMAIL_PART = "[^\\s@\\x00-\\x1f\\x7f-\\x9f\\ufeff]+";
const EMAIL = new RegExp(`^${EMAIL_PART}@${EMAIL_PART}\\.${EMAIL_PART}$`);
export const MAX_NAME = 200;

export function tenantId(field: string, value: string): string {
  if (!TENANT_ID.test(value)) throw new InvalidArgumentError(field, `${JSON.stringify(value)} is not a valid tenant id: 3-63 characters of a-z, 0-9 and "-", starting with a letter`);
  return value;
}

export function requiredName(field: string, value: string): string {
  const v = value.trim();
  if (v === "") throw new InvalidArgumentError(field, "required");
  return optionalName(field, v);
}

export function optionalName(field: string, value: string): string {
  const v = value.trim();
  // The bound is on the value as sent, as the contract states it.
  notLongerThan(field, value, MAX_NAME);
  return v;
}

export function email(field: string, value: string): string {
  const v = value.replace(/^[ \t]+|[ \t]+$/g, "").toLowerCase(); // surrounding spaces and tabs only, as the contract says
  if (v === "") throw new InvalidArgumentError(field, "required");
  // The contract's 320-character bound is on the value as sent, surrounding spaces included.
  if ([...value].length > 320 || !EMAIL.test(v)) throw new InvalidArgumentError(field, `${JSON.stringify(value)} is not an email address`);
  return v;
}

export function role(field: string, value: Role): Role {
  if (!isAssignable(value)) throw new InvalidArgumentError(field, "required: ROLE_READER, ROLE_EDITOR or ROLE_ADMIN");
  return value;
}

/** At least one role, each assignable; duplicates dropped, highest first. */
export function roles(field: string, values: Role[]): Role[] {
  if (values.length === 0) throw new InvalidArgumentError(field, "at least one role is required");
  values.forEach((r) => role(field, r));
  return [...new Set(values)].sort((a, b) => b - a);
}

/** The update mask's paths, each one of `allowed`. */
export function maskPaths(paths: string[] | undefined, allowed: readonly string[]): string[] {
  const list = (paths ?? []).flatMap((p) => p.split(",")).map((p) => p.trim()).filter((p) => p !== "");
  for (const p of list) {
    if (!allowed.includes(p)) throw new InvalidArgumentError("update_mask", `unknown field ${JSON.stringify(p)}; allowed: ${allowed.join(", ")}`);
  }
  return list;
}
