import { createHash } from "node:crypto";
import { SignJWT, jwtVerify, errors } from "jose";

/**
 * Service tokens: how one service calls another, on behalf of a tenant and (when there is one) a user.
 * HS256 with a secret every service of the deployment shares (RAG_INTERNAL_SECRET, at least 32 characters;
 * `make run` generates one, Kubernetes mounts it from a Secret). Short-lived, so a leaked token is worth
 * little. Inside Istio, mTLS plus AuthorizationPolicy on service accounts guards the same boundary a second time.
 */
export const SERVICE_ISSUER = "rag-mesh";
const AUDIENCE = "rag-mesh";
const ALG = "HS256";
const LIFETIME_S = 300;
/** Reuse a minted token until this much of its life is left. */
const REUSE_MARGIN_S = 60;
export const MIN_SECRET_LENGTH = 32;

export interface ServiceClaims {
  /** Calling service, e.g. "query". */
  service: string;
  tenantId: string | undefined;
  /** The user the call is made for, if any. */
  userId: string | undefined;
}

let secretKey: Uint8Array | undefined;
let secretSource: string | undefined;

/** The shared secret as key bytes, from RAG_INTERNAL_SECRET; undefined when this process has none (the CLI). */
export function internalSecret(): Uint8Array | undefined {
  const raw = process.env.RAG_INTERNAL_SECRET;
  if (!raw || raw.length < MIN_SECRET_LENGTH) return undefined;
  if (raw !== secretSource) {
    // Hashing gives a fixed-size HS256 key whatever the secret's length.
    secretKey = createHash("sha256").update(raw).digest();
    secretSource = raw;
  }
  return secretKey;
}

const minted = new Map<string, { token: string; reuseUntil: number }>();

/** A bearer token for calls made as `claims.service`; cached and reused for most of its lifetime. */
export async function serviceToken(claims: ServiceClaims): Promise<string | undefined> {
  const key = internalSecret();
  if (!key) return undefined;
  const cacheKey = `${claims.service}\u0000${claims.tenantId ?? ""}\u0000${claims.userId ?? ""}`;
  const now = Date.now();
  const hit = minted.get(cacheKey);
  if (hit && hit.reuseUntil > now) return hit.token;
  const token = await new SignJWT({ svc: claims.service, ...(claims.tenantId ? { tid: claims.tenantId } : {}), ...(claims.userId ? { act: claims.userId } : {}) })
    .setProtectedHeader({ alg: ALG, typ: "JWT" })
    .setIssuer(SERVICE_ISSUER)
    .setAudience(AUDIENCE)
    .setSubject(`service:${claims.service}`)
    .setIssuedAt()
    .setExpirationTime(Math.floor(now / 1000) + LIFETIME_S)
    .sign(key);
  if (minted.size > 10_000) minted.clear(); // bounded: one entry per (tenant, user) pair in use
  minted.set(cacheKey, { token, reuseUntil: now + (LIFETIME_S - REUSE_MARGIN_S) * 1000 });
  return token;
}

export type ServiceTokenCheck = { ok: true; claims: ServiceClaims } | { ok: false; reason: string };

export async function verifyServiceToken(token: string): Promise<ServiceTokenCheck> {
  const key = internalSecret();
  if (!key) return { ok: false, reason: "this service has no RAG_INTERNAL_SECRET to check service tokens" };
  try {
    const { payload } = await jwtVerify(token, key, { issuer: SERVICE_ISSUER, audience: AUDIENCE, algorithms: [ALG] });
    const { svc, tid, act } = payload as { svc?: unknown; tid?: unknown; act?: unknown };
    if (typeof svc !== "string" || (tid !== undefined && typeof tid !== "string") || (act !== undefined && typeof act !== "string")) {
      return { ok: false, reason: "invalid service token" };
    }
    return { ok: true, claims: { service: svc, tenantId: tid, userId: act } };
  } catch (err) {
    return { ok: false, reason: err instanceof errors.JWTExpired ? "expired service token" : "invalid service token" };
  }
}
