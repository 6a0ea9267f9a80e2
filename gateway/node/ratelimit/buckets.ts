/*
 * Token-bucket arithmetic shared by the in-process and the Redis limiter (the Redis Lua script repeats the same
 * formulas; keep them in step). Each subject has two buckets:
 *   burst: holds `burst` tokens and regains perMinute of them a minute, continuously;
 *   hour:  holds `perHour` tokens and regains perHour of them an hour, continuously.
 * Refill is computed as elapsed * refill / periodMs (multiply first) so whole milliseconds give exact token counts.
 */
import { isRole, type Limits, type RateLimitConfig, type RoleName } from "./config.js";

export type Scope = "key" | "tenant";

/** A bucket holding up to `capacity` tokens that regains `refill` tokens every `periodMs`, continuously. */
export interface Bucket {
  scope: Scope;
  window: "burst" | "hour";
  capacity: number;
  refill: number;
  periodMs: number;
}

/** Whose tokens a request spends: one API key, one tenant, each with its burst and hour buckets. */
export interface Subject {
  scope: Scope;
  /** Storage name: `key:<apiKeyId>` or `tenant:<tenantId>`. */
  name: string;
  buckets: [burst: Bucket, hour: Bucket];
}

/** What a caller passes to take(): its API key id, its tenant, and its role (READER or ROLE_READER, …). */
export interface Subjects {
  key: string;
  tenant: string;
  role: string;
}

export function bucketsOf(limits: Limits, scope: Scope): [Bucket, Bucket] {
  return [
    { scope, window: "burst", capacity: limits.burst, refill: limits.perMinute, periodMs: 60_000 },
    { scope, window: "hour", capacity: limits.perHour, refill: limits.perHour, periodMs: 3_600_000 },
  ];
}

/** The key's and the tenant's buckets for one caller; throws naming the bad field. */
export function subjectsOf(config: RateLimitConfig, who: Subjects): [key: Subject, tenant: Subject] {
  if (typeof who?.key !== "string" || who.key === "") throw new Error("rate limit: subjects.key (the API key id) must be a non-empty string");
  if (typeof who.tenant !== "string" || who.tenant === "") throw new Error("rate limit: subjects.tenant must be a non-empty string");
  const role = roleName(who.role);
  return [
    { scope: "key", name: `key:${who.key}`, buckets: bucketsOf(config.roles[role], "key") },
    { scope: "tenant", name: `tenant:${who.tenant}`, buckets: bucketsOf(config.tenant, "tenant") },
  ];
}

function roleName(role: unknown): RoleName {
  const name = typeof role === "string" ? role.replace(/^ROLE_/, "") : "";
  if (!isRole(name)) throw new Error(`rate limit: unknown role ${JSON.stringify(role)}; expected ADMIN, EDITOR, READER or SERVICE`);
  return name;
}

/** A request's cost in tokens: a positive integer (default 1). */
export function validCost(cost: unknown): number {
  if (typeof cost !== "number" || !Number.isSafeInteger(cost) || cost <= 0) {
    throw new Error(`rate limit: cost must be a positive integer (got ${JSON.stringify(cost)})`);
  }
  return cost;
}

/** Tokens in a bucket `elapsedMs` after it held `tokens`. A clock that stepped back refills nothing. */
export function refilled(bucket: Bucket, tokens: number, elapsedMs: number): number {
  return Math.min(bucket.capacity, tokens + (Math.max(0, elapsedMs) * bucket.refill) / bucket.periodMs);
}

/** Milliseconds until a bucket holding `tokens` holds `target` (0 if it already does). */
export function msUntil(bucket: Bucket, tokens: number, target: number): number {
  return tokens >= target ? 0 : ((target - tokens) * bucket.periodMs) / bucket.refill;
}

/** A cost larger than some bucket's capacity could never be admitted: that is a configuration error, not a 429. */
export function assertAffordable(subjects: Subject[], cost: number): void {
  for (const bucket of subjects.flatMap((s) => s.buckets)) {
    if (cost > bucket.capacity) {
      throw new Error(`rate limit: cost ${cost} exceeds the ${bucket.scope} ${bucket.window} capacity ${bucket.capacity}, so it could never be admitted`);
    }
  }
}
