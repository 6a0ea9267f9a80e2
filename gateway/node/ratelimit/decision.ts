/*
 * Turning bucket levels into an admission decision and its response headers, in the header form of
 * draft-ietf-httpapi-ratelimit-headers-06 (RateLimit-Limit / -Remaining / -Reset as integers, plus
 * RateLimit-Policy), which is what clients and most gateways understand today.
 *
 * RateLimit-Policy lists every quota that applies, the key's first, then the tenant's, each as
 * `<quota>;w=<seconds>` with two extension parameters:
 *   burst=<n>       on the burst item: quota n per w seconds, where w is how long an empty burst takes to refill;
 *   scope=key|tenant whose quota it is.
 * e.g. for a READER: `20;w=10;burst=20;scope=key, 120;w=60;scope=key, 3000;w=3600;scope=key,
 *                     200;w=10;burst=200;scope=tenant, 1200;w=60;scope=tenant, 30000;w=3600;scope=tenant`
 * RateLimit-Limit/-Remaining/-Reset describe the most constraining bucket: when refused, the one that needs the
 * longest wait; when admitted, the one with the fewest whole tokens left (ties: the later reset). Reset is the
 * whole seconds until that bucket is full again; Retry-After (refusals only) the whole seconds, at least 1, until
 * every bucket holds the request's cost.
 */
import { msUntil, type Bucket, type Scope, type Subject } from "./buckets.js";

export interface Decision {
  allowed: boolean;
  /** Response headers, whether admitted or not (see the file comment for their form). */
  headers: Record<string, string>;
  /** Which scope refused: "key" | "tenant" (only when refused). */
  scope?: Scope;
}

/** A bucket and the tokens it holds now: after the take when admitted, untouched when refused. */
export interface BucketLevel {
  bucket: Bucket;
  tokens: number;
}

export function admits(levels: BucketLevel[], cost: number): boolean {
  return levels.every((l) => l.tokens >= cost);
}

export function decision(allowed: boolean, levels: BucketLevel[], cost: number, policy: string): Decision {
  if (levels.length === 0) throw new Error("rate limit: a decision needs at least one bucket");
  const toFull = (l: BucketLevel) => msUntil(l.bucket, l.tokens, l.bucket.capacity);
  if (allowed) {
    const binding = levels.reduce((a, b) => {
      const [ra, rb] = [Math.floor(a.tokens), Math.floor(b.tokens)];
      return rb < ra || (rb === ra && toFull(b) > toFull(a)) ? b : a;
    });
    return { allowed, headers: describe(binding, toFull(binding), policy) };
  }
  const wait = (l: BucketLevel) => msUntil(l.bucket, l.tokens, cost);
  const binding = levels.reduce((a, b) => (wait(b) > wait(a) ? b : a));
  const headers = describe(binding, toFull(binding), policy);
  headers["Retry-After"] = String(Math.max(1, Math.ceil(wait(binding) / 1000)));
  return { allowed, headers, scope: binding.bucket.scope };
}

function describe(binding: BucketLevel, toFullMs: number, policy: string): Record<string, string> {
  return {
    "RateLimit-Limit": String(binding.bucket.capacity),
    "RateLimit-Remaining": String(Math.max(0, Math.floor(binding.tokens))),
    "RateLimit-Reset": String(Math.ceil(toFullMs / 1000)),
    "RateLimit-Policy": policy,
  };
}

/** The RateLimit-Policy value for these subjects (see the file comment). */
export function policyOf(subjects: Subject[]): string {
  return subjects
    .flatMap(({ scope, buckets: [burst, hour] }) => [
      `${burst.capacity};w=${Math.max(1, Math.ceil((burst.capacity * burst.periodMs) / burst.refill / 1000))};burst=${burst.capacity};scope=${scope}`,
      `${burst.refill};w=${burst.periodMs / 1000};scope=${scope}`,
      `${hour.capacity};w=${hour.periodMs / 1000};scope=${scope}`,
    ])
    .join(", ");
}
