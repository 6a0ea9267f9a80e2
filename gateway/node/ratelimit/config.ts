/*
 * Rate-limit settings: what each caller role and each tenant may spend. Read from GATEWAY_RATE_LIMITS, a JSON
 * object of partial overrides merged over the defaults below, e.g.
 *   {"roles": {"READER": {"burst": 10}}, "tenant": {"perHour": 100000}}
 */

/** One subject's allowance: a burst refilled at perMinute/60 tokens a second, capped at perHour per hour. */
export interface Limits {
  burst: number;
  perMinute: number;
  perHour: number;
}

export const ROLES = ["ADMIN", "EDITOR", "READER", "SERVICE"] as const;
export type RoleName = (typeof ROLES)[number];

export interface RateLimitConfig {
  /** Limits of one API key, chosen by its holder's role. */
  roles: Record<RoleName, Limits>;
  /** Limits of a whole tenant, shared by all its keys. */
  tenant: Limits;
}

const READER: Limits = { burst: 20, perMinute: 120, perHour: 3_000 };
const times = (l: Limits, n: number): Limits => ({ burst: l.burst * n, perMinute: l.perMinute * n, perHour: l.perHour * n });

/** Programs (SERVICE) get an administrator's allowance: ingestion pipelines call in bursts too. */
export const DEFAULT_RATE_LIMITS: RateLimitConfig = {
  roles: { READER, EDITOR: times(READER, 2), ADMIN: times(READER, 5), SERVICE: times(READER, 5) },
  tenant: { burst: 200, perMinute: 1_200, perHour: 30_000 },
};

const LIMIT_FIELDS = ["burst", "perMinute", "perHour"] as const;

/**
 * The configuration from GATEWAY_RATE_LIMITS (undefined or blank: the defaults). Throws an Error naming the
 * offending path, e.g. "GATEWAY_RATE_LIMITS roles.READER.burst: must be a positive integer (got -1)".
 */
export function parseRateLimitConfig(json: string | undefined): RateLimitConfig {
  const config = structuredClone(DEFAULT_RATE_LIMITS);
  if (json === undefined || json.trim() === "") return config;
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new Error(`GATEWAY_RATE_LIMITS: not valid JSON: ${(err as Error).message}`);
  }
  const top = objectAt(raw, "");
  for (const [name, value] of Object.entries(top)) {
    if (name === "tenant") mergeLimits(config.tenant, value, "tenant");
    else if (name === "roles") {
      for (const [role, limits] of Object.entries(objectAt(value, "roles"))) {
        if (!isRole(role)) fail(`roles.${role}`, `unknown role; expected one of ${ROLES.join(", ")}`);
        mergeLimits(config.roles[role], limits, `roles.${role}`);
      }
    } else fail(name, `unknown setting; expected "roles" or "tenant"`);
  }
  return config;
}

export function isRole(name: string): name is RoleName {
  return (ROLES as readonly string[]).includes(name);
}

function mergeLimits(into: Limits, value: unknown, path: string): void {
  for (const [field, v] of Object.entries(objectAt(value, path))) {
    if (!(LIMIT_FIELDS as readonly string[]).includes(field)) fail(`${path}.${field}`, `unknown limit; expected one of ${LIMIT_FIELDS.join(", ")}`);
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) fail(`${path}.${field}`, `must be a positive integer (got ${JSON.stringify(v)})`);
    into[field as keyof Limits] = v;
  }
}

function objectAt(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail(path || "(top level)", `must be a JSON object (got ${JSON.stringify(value)})`);
  }
  return value as Record<string, unknown>;
}

function fail(path: string, problem: string): never {
  throw new Error(`GATEWAY_RATE_LIMITS ${path}: ${problem}`);
}
