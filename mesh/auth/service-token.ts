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

/** The shared secret as HS256 key bytes; undefined when there is none (the CLI, a process without the secret). */
export function serviceKey(secret: string | undefined): Uint8Array | undefined {
  if (!secret || secret.length < MIN_SECRET_LENGTH) return undefined;
  // Hashing gives a fixed-size HS256 key whatever the secret's length.
  return createHash("sha256").update(secret).digest();
}

/**
 * Mints the service tokens of one process (`self`, e.g. "query"). Tokens are cached and reused for most
 * of their lifetime: a service sends one on every call it makes.
 */
export class ServiceTokenMinter {
  private readonly key: Uint8Array | undefined;
  private readonly minted = new Map<string, { token: string; reuseUntil: number }>();

  constructor(
    readonly self: string,
    secret: string | undefined,
  ) {
    this.key = serviceKey(secret);
  }

  /** A bearer token for a call made for `tenantId` (and `userId`); undefined without a secret. */
  async token(tenantId: string | undefined, userId: string | undefined): Promise<string | undefined> {
    if (!this.key) return undefined;
    const cacheKey = `${tenantId ?? ""}\u0000${userId ?? ""}`;
    const now = Date.now();
    const hit = this.minted.get(cacheKey);
    if (hit && hit.reuseUntil > now) return hit.token;
    const token = await sign(this.key, { service: this.self, tenantId, userId }, now);
    if (this.minted.size > 10_000) this.minted.clear(); // bounded: one entry per (tenant, user) pair in use
    this.minted.set(cacheKey, { token, reuseUntil: now + (LIFETIME_S - REUSE_MARGIN_S) * 1000 });
    return token;
  }

  /** `authorization` metadata for such a call; undefined without a secret. */
  async authorization(tenantId: string | undefined, userId: string | undefined): Promise<string | undefined> {
    const token = await this.token(tenantId, userId);
    return token ? `Bearer ${token}` : undefined;
  }
}

/** One service token signed with `secret` (tests, tools); undefined when the secret is missing or short. */
export async function serviceToken(claims: ServiceClaims, secret: string | undefined): Promise<string | undefined> {
  const key = serviceKey(secret);
  return key ? sign(key, claims, Date.now()) : undefined;
}

function sign(key: Uint8Array, claims: ServiceClaims, now: number): Promise<string> {
  return new SignJWT({ svc: claims.service, ...(claims.tenantId ? { tid: claims.tenantId } : {}), ...(claims.userId ? { act: claims.userId } : {}) })
    .setProtectedHeader({ alg: ALG, typ: "JWT" })
    .setIssuer(SERVICE_ISSUER)
    .setAudience(AUDIENCE)
    .setSubject(`service:${claims.service}`)
    .setIssuedAt()
    .setExpirationTime(Math.floor(now / 1000) + LIFETIME_S)
    .sign(key);
}

export type ServiceTokenCheck = { ok: true; claims: ServiceClaims } | { ok: false; reason: string };

export async function verifyServiceToken(token: string, key: Uint8Array | undefined): Promise<ServiceTokenCheck> {
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
