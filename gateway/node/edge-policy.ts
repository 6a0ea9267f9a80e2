import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { status } from "@grpc/grpc-js";
import { LRUCache } from "lru-cache";
import type { IdentityServiceClient } from "#gen/rag/v1/identity.js";
import { authorizeCall, type Principal, type TokenVerifier } from "#mesh/auth/index.js";
import { PUBLIC, requiredPermission } from "#mesh/auth/permissions.js";
import type { PromiseClient } from "#mesh/client.js";
import { isServiceError, RpcError } from "#mesh/errors.js";
import { HttpError, httpStatusFor } from "./errors.js";
import type { Admission, EdgePolicy, RouteInfo } from "./gateway.js";
import type { RateLimiter } from "./ratelimit/index.js";

/**
 * Access tokens the gateway gets for API keys: short, and reused for at most this long. Revocation does not
 * wait for this: identity announces revoked keys (WatchRevocations) and the token verifier refuses their
 * tokens from then on, cached or not. While that announcement stream is down, exchanges are not reused.
 */
const EXCHANGED_TOKEN_TTL_S = 900;
const EXCHANGE_REUSE_MS = 60_000;

/** Only identity's access tokens, never internal service tokens, are accepted from the outside. */
const AT_THE_EDGE = { acceptServiceTokens: false } as const;

export interface EdgeAuthOptions {
  /** Checks access tokens: the gateway runtime's verifier (mesh/runtime.ts). */
  verifier: TokenVerifier;
  /** Whether exchanged tokens may be reused now: true while the revocation watch is live (default: always). */
  reuseExchanges?: () => boolean;
}

type Identity = Pick<PromiseClient<typeof IdentityServiceClient.service>, "issueToken">;

interface Exchanged {
  token: string;
  reuseUntil: number;
}

/**
 * Authentication, authorisation and rate limits at the edge. A caller presents an API key
 * (`X-API-Key: rag_…` or `Authorization: Bearer rag_…`) or an access token (`Authorization: Bearer <JWT>`
 * from POST /v1/tokens). API keys are exchanged with identity for an access token (cached briefly,
 * since checking a key costs a deliberate ~80 ms of scrypt); the token is verified and the route's
 * permission checked here, so a refused call never reaches a service, and then forwarded as
 * `authorization` — each service verifies it again and scopes everything by its tenant.
 */
export class EdgeAuth implements EdgePolicy {
  private readonly exchanged = new LRUCache<string, Exchanged>({ max: 10_000 });

  private readonly reuseExchanges: () => boolean;
  private readonly verifier: TokenVerifier;

  constructor(
    private readonly identity: Identity,
    private readonly limiter: RateLimiter,
    opts: EdgeAuthOptions,
  ) {
    this.verifier = opts.verifier;
    this.reuseExchanges = opts.reuseExchanges ?? (() => true);
  }

  /** /readyz detail is for callers with a valid credential (any role); refusals are quiet (false). */
  async mayReadReadiness(req: IncomingMessage): Promise<boolean> {
    if (!presentedApiKey(req) && !req.headers.authorization) return false;
    try {
      const token = await this.accessToken(req);
      await this.verifier.verify(`Bearer ${token}`, AT_THE_EDGE);
      return true;
    } catch {
      return false;
    }
  }

  async admit(req: IncomingMessage, route: RouteInfo): Promise<Admission> {
    if (requiredPermission(route.rpcPath) === PUBLIC) {
      // Public routes (POST /v1/tokens takes an API key in its body) are limited per client address, so
      // nobody can guess keys at full speed.
      const decision = await this.limiter.take({ key: `ip:${clientAddress(req)}`, tenant: "anonymous", role: "READER" });
      if (!decision.allowed) throw tooMany(decision.headers, "this address");
      // IssueToken may take its API key from the request's own credential rather than the body.
      const presented = presentedApiKey(req);
      return { metadata: presented ? { authorization: `Bearer ${presented}` } : {}, headers: decision.headers };
    }
    const token = await this.accessToken(req);
    let principal: Principal | undefined;
    try {
      principal = await authorizeCall(this.verifier, route.rpcPath, `Bearer ${token}`, AT_THE_EDGE);
    } catch (err) {
      throw refusal(err);
    }
    if (!principal) throw new HttpError(500, status.INTERNAL, `no principal for ${route.rpcPath}`);
    const decision = await this.limiter.take({
      key: principal.apiKeyId ? `key:${principal.apiKeyId}` : `user:${principal.userId}`,
      tenant: principal.tenantId,
      role: principal.roles.includes("ADMIN") ? "ADMIN" : principal.roles.includes("EDITOR") ? "EDITOR" : "READER",
    });
    if (!decision.allowed) throw tooMany(decision.headers, decision.scope === "tenant" ? "this tenant" : "this API key");
    return { metadata: { authorization: `Bearer ${token}` }, headers: decision.headers };
  }

  /** The caller's access token: its own, or the one its API key is exchanged for. */
  private async accessToken(req: IncomingMessage): Promise<string> {
    const apiKey = presentedApiKey(req);
    const authorization = req.headers.authorization?.trim();
    if (!apiKey && !authorization) {
      throw new HttpError(401, status.UNAUTHENTICATED, "missing credentials: send an API key (X-API-Key: rag_…) or an access token (Authorization: Bearer …)", {
        headers: { "WWW-Authenticate": 'Bearer realm="rag"' },
      });
    }
    if (apiKey) return this.exchange(apiKey);
    const m = /^Bearer\s+(\S+)$/i.exec(authorization!);
    if (!m) throw new HttpError(401, status.UNAUTHENTICATED, 'malformed Authorization header: expected "Bearer <API key or access token>"', { headers: { "WWW-Authenticate": 'Bearer realm="rag"' } });
    return m[1]!;
  }

  private async exchange(apiKey: string): Promise<string> {
    const id = createHash("sha256").update(apiKey).digest("base64url");
    const hit = this.exchanged.get(id);
    if (hit && hit.reuseUntil > Date.now() && this.reuseExchanges()) return hit.token;
    try {
      const { accessToken } = await this.identity.issueToken({ apiKey, ttlSeconds: EXCHANGED_TOKEN_TTL_S });
      this.exchanged.set(id, { token: accessToken, reuseUntil: Date.now() + EXCHANGE_REUSE_MS });
      return accessToken;
    } catch (err) {
      throw refusal(err);
    }
  }
}

function refusal(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  const code = err instanceof RpcError ? err.code : isServiceError(err) ? err.code : status.INTERNAL;
  const message = err instanceof RpcError ? err.message : isServiceError(err) ? err.details : "authentication failed";
  const headers: Record<string, string> = code === status.UNAUTHENTICATED ? { "WWW-Authenticate": 'Bearer realm="rag", error="invalid_token"' } : {};
  return new HttpError(httpStatusFor(code), code, message, { headers });
}

function tooMany(headers: Record<string, string>, who: string): HttpError {
  return new HttpError(429, status.RESOURCE_EXHAUSTED, `rate limit exceeded for ${who}: retry after ${headers["Retry-After"] ?? "a few"} seconds`, { headers });
}

/** An API key sent as X-API-Key or as "Authorization: Bearer rag_…". */
function presentedApiKey(req: IncomingMessage): string | undefined {
  const header = req.headers["x-api-key"];
  if (typeof header === "string" && header.trim() !== "") return header.trim();
  const m = /^Bearer\s+(rag_\S+)$/i.exec(req.headers.authorization?.trim() ?? "");
  return m?.[1];
}

function clientAddress(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? "unknown";
}
