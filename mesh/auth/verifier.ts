import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JSONWebKeySet, type JWK } from "jose";
import { LRUCache } from "lru-cache";
import { UnauthenticatedError } from "../errors.js";
import { OPERATOR_PERMISSION, SERVICE_PERMISSIONS, isRoleName, permissionsOfRoles } from "./permissions.js";
import type { Principal } from "./principal.js";
import { revokedKeys, type RevokedKeys } from "./revocations.js";
import { serviceKey, verifyServiceToken } from "./service-token.js";

/** Access tokens come from identity (services/identity/signing.ts): these must match it. */
export const USER_TOKEN_ISSUER = "rag-identity";
export const USER_TOKEN_AUDIENCE = "rag-api";

/** Where the public keys of identity's access tokens come from: identity's GetJwks, or identity's own store. */
export type KeySource = () => Promise<JWK[]>;

const REFRESH_MS = 5 * 60_000;
/**
 * A token verified once is trusted again for this long (never past its expiry): an ES256 check costs about
 * a millisecond, and a client sends the same token on every call. Revocation does not wait for this: a
 * process that watches identity's revocations (the gateway) checks the token's key against its list of
 * revoked keys on every call, cached or not (see revocations.ts).
 */
const VERIFIED_TTL_MS = 60_000;
/** An unknown kid triggers a refetch (keys rotate), but not more often than this. */
const REFETCH_COOLDOWN_MS = 5_000;

export interface VerifyOptions {
  /**
   * Whether HS256 service tokens (signed with the deployment's internal secret) are accepted. True inside
   * the mesh; false at the public edge, where only identity's access tokens (and API keys exchanged for
   * them) may come in: an internal token reaching the edge is refused, never trusted.
   */
  acceptServiceTokens?: boolean;
}

/** What the edge says to a service token: it is valid inside the mesh only. */
export const SERVICE_TOKEN_AT_EDGE =
  "internal service tokens are not accepted here: send an API key (X-API-Key: rag_…) or an access token from POST /v1/tokens";

export interface TokenVerifierOptions {
  /** identity's public keys: its own key store in identity, GetJwks everywhere else. */
  keys: KeySource;
  /** The deployment's shared secret, to check service tokens; without it every service token is refused. */
  internalSecret: string | undefined;
  /** Revoked API keys (default: the process's list, fed by watchRevocations). */
  revoked?: RevokedKeys;
}

/**
 * Turns an `authorization` value into a Principal, or throws UNAUTHENTICATED saying what is wrong. Two
 * kinds of bearer token are accepted: identity's ES256 access tokens (users) and HS256 service tokens.
 */
export class TokenVerifier {
  private jwks: ReturnType<typeof createLocalJWKSet> | undefined;
  private fetchedAt = 0;
  private fetching: Promise<void> | undefined;

  private readonly verified = new LRUCache<string, Principal>({ max: 10_000 });
  private readonly keys: KeySource;
  private readonly revoked: RevokedKeys;
  private readonly serviceKey: Uint8Array | undefined;

  constructor(opts: TokenVerifierOptions) {
    this.keys = opts.keys;
    this.revoked = opts.revoked ?? revokedKeys;
    this.serviceKey = serviceKey(opts.internalSecret);
  }

  async verify(authorization: string | undefined, opts: VerifyOptions = {}): Promise<Principal> {
    const acceptServiceTokens = opts.acceptServiceTokens ?? true;
    const token = bearer(authorization);
    let principal = this.verified.get(token);
    if (!principal) {
      principal = await this.check(token, acceptServiceTokens);
      const exp = decodeJwt(token).exp;
      const ttl = Math.min(VERIFIED_TTL_MS, exp === undefined ? 0 : exp * 1000 - Date.now());
      if (ttl > 0) this.verified.set(token, principal, { ttl });
    }
    if (principal.kind === "service" && !acceptServiceTokens) throw new UnauthenticatedError(SERVICE_TOKEN_AT_EDGE);
    if (principal.kind === "user" && this.revoked.has(principal.apiKeyId)) {
      throw new UnauthenticatedError("revoked API key: it and the access tokens issued for it are no longer accepted");
    }
    return principal;
  }

  private async check(token: string, acceptServiceTokens: boolean): Promise<Principal> {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new UnauthenticatedError("malformed bearer token: expected a JWT");
    }
    // Refused before any check: the edge does not even tell a valid service token from a forged one.
    if (alg === "HS256" && !acceptServiceTokens) throw new UnauthenticatedError(SERVICE_TOKEN_AT_EDGE);
    if (alg === "HS256") return this.service(token);
    if (alg === "ES256") return this.user(token);
    throw new UnauthenticatedError(`unsupported token algorithm ${JSON.stringify(alg)}`);
  }

  private async service(token: string): Promise<Principal> {
    const check = await verifyServiceToken(token, this.serviceKey);
    if (!check.ok) throw new UnauthenticatedError(check.reason);
    const { service, tenantId, userId } = check.claims;
    return { kind: "service", tenantId: tenantId ?? "", userId, service, roles: ["SERVICE"], permissions: new Set(SERVICE_PERMISSIONS), apiKeyId: undefined };
  }

  private async user(token: string): Promise<Principal> {
    let payload;
    try {
      ({ payload } = await jwtVerify(token, await this.keySet(false), { issuer: USER_TOKEN_ISSUER, audience: USER_TOKEN_AUDIENCE, algorithms: ["ES256"] }));
    } catch (err) {
      if (err instanceof errors.JWKSNoMatchingKey && Date.now() - this.fetchedAt > REFETCH_COOLDOWN_MS) {
        // Signed by a key newer than ours: identity rotated.
        await this.keySet(true);
        return this.user(token);
      }
      if (err instanceof errors.JWTExpired) throw new UnauthenticatedError("expired access token: get a new one with POST /v1/tokens");
      if (err instanceof UnauthenticatedError) throw err;
      throw new UnauthenticatedError("invalid access token");
    }
    const { sub, tid, roles, akid, op } = payload as { sub?: unknown; tid?: unknown; roles?: unknown; akid?: unknown; op?: unknown };
    if (typeof sub !== "string" || typeof tid !== "string" || !Array.isArray(roles) || roles.length === 0 || !roles.every(isRoleName)) {
      throw new UnauthenticatedError("invalid access token");
    }
    return {
      kind: "user",
      tenantId: tid,
      userId: sub,
      service: undefined,
      roles,
      permissions: new Set(permissionsOfRoles(roles, op === true ? [OPERATOR_PERMISSION] : [])),
      apiKeyId: typeof akid === "string" ? akid : undefined,
    };
  }

  private async keySet(force: boolean): Promise<ReturnType<typeof createLocalJWKSet>> {
    if (force || !this.jwks || Date.now() - this.fetchedAt > REFRESH_MS) {
      this.fetching ??= this.keys()
        .then((keys) => {
          this.jwks = createLocalJWKSet({ keys } as JSONWebKeySet);
          this.fetchedAt = Date.now();
        })
        .catch((err: Error) => {
          // Keep verifying with the keys we have; without any, nobody can be authenticated.
          if (!this.jwks) throw new UnauthenticatedError(`cannot verify access tokens: identity's signing keys are unavailable (${err.message})`);
        })
        .finally(() => (this.fetching = undefined));
      await this.fetching;
    }
    return this.jwks!;
  }
}

function bearer(authorization: string | undefined): string {
  if (!authorization) throw new UnauthenticatedError('missing credentials: send metadata "authorization: Bearer <access token>" (get one with POST /v1/tokens)');
  const m = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
  if (!m) throw new UnauthenticatedError('malformed "authorization": expected "Bearer <access token>"');
  if (m[1]!.startsWith("rag_")) {
    throw new UnauthenticatedError("an API key is not an access token: exchange it with POST /v1/tokens (IdentityService.IssueToken), or call through the gateway");
  }
  return m[1]!;
}
