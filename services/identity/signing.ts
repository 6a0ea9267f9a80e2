import { randomUUID } from "node:crypto";
import { exportJWK, generateKeyPair, importJWK, SignJWT, jwtVerify, errors, decodeProtectedHeader, type JWK, type JWTPayload, type CryptoKey } from "jose";
import type pg from "pg";
import { log } from "#mesh/logger.js";

export const ISSUER = "rag-identity";
export const AUDIENCE = "rag-api";
const ALG = "ES256";
/** Longest token lifetime IssueToken grants (proto: at most 3600 s). */
export const MAX_TOKEN_TTL_S = 3600;

const RELOAD_MS = 60_000;

interface SigningKey {
  kid: string;
  privateJwk: JWK;
  publicJwk: JWK;
  createTime: Date;
}

export type TokenCheck = { ok: true; payload: JWTPayload } | { ok: false; reason: "expired" | "invalid" };

/**
 * ES256 token signing keys, persisted in Postgres (private key as JWK). The newest key signs; once it is
 * older than the rotation period a new one is generated. A replaced key stays in the JWKS (and verifies)
 * until every token it could have signed has expired: MAX_TOKEN_TTL_S after its successor appeared.
 */
export class TokenSigner {
  private keys: SigningKey[] = [];
  private loadedAt = 0;
  private imported = new Map<string, Promise<CryptoKey | Uint8Array>>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly rotationMs: number,
  ) {}

  /** Loads the keys and makes sure a current one exists. */
  async start(): Promise<void> {
    await this.reload();
    await this.current();
  }

  private async reload(): Promise<void> {
    const { rows } = await this.pool.query<{ kid: string; private_jwk: JWK; public_jwk: JWK; create_time: Date }>(
      "SELECT kid, private_jwk, public_jwk, create_time FROM signing_keys ORDER BY create_time DESC, kid",
    );
    this.loadedAt = Date.now();
    this.keys = rows.map((r) => ({ kid: r.kid, privateJwk: r.private_jwk, publicJwk: r.public_jwk, createTime: r.create_time }));
  }

  private async current(): Promise<SigningKey> {
    const newest = this.keys[0];
    if (newest && Date.now() - newest.createTime.getTime() < this.rotationMs) return newest;
    // Another replica may have rotated already: look again before generating.
    await this.reload();
    const fresh = this.keys[0];
    if (fresh && Date.now() - fresh.createTime.getTime() < this.rotationMs) return fresh;
    const { privateKey, publicKey } = await generateKeyPair(ALG, { extractable: true });
    const kid = randomUUID();
    const meta = { kid, alg: ALG, use: "sig" };
    await this.pool.query("INSERT INTO signing_keys (kid, private_jwk, public_jwk) VALUES ($1, $2, $3)", [
      kid,
      { ...(await exportJWK(privateKey)), ...meta },
      { ...(await exportJWK(publicKey)), ...meta },
    ]);
    log.info("token signing key created", { kid });
    await this.reload();
    return this.keys[0]!;
  }

  /** The JWKS: rotates when due, and sees keys other replicas made (re-read at most once a minute). */
  async jwks(): Promise<JWK[]> {
    if (Date.now() - this.loadedAt > RELOAD_MS) await this.reload();
    await this.current();
    return this.published();
  }

  /** Keys that may still verify a live token, current first. */
  private published(now = Date.now()): JWK[] {
    return this.keys.filter((k, i) => i === 0 || this.keys[i - 1]!.createTime.getTime() + MAX_TOKEN_TTL_S * 1000 > now).map((k) => k.publicJwk);
  }

  async sign(claims: JWTPayload & { sub: string }, expiresAt: Date): Promise<string> {
    const key = await this.current();
    return new SignJWT(claims)
      .setProtectedHeader({ alg: ALG, kid: key.kid, typ: "JWT" })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
      .sign(await this.privateKey(key));
  }

  async verify(token: string): Promise<TokenCheck> {
    let kid: string | undefined;
    try {
      kid = decodeProtectedHeader(token).kid;
    } catch {
      return { ok: false, reason: "invalid" };
    }
    if (!kid) return { ok: false, reason: "invalid" };
    // A key made by another replica since we last looked.
    if (!this.keys.some((k) => k.kid === kid)) await this.reload();
    const key = this.published().find((k) => k.kid === kid);
    if (!key) return { ok: false, reason: "invalid" };
    try {
      const { payload } = await jwtVerify(token, await this.publicKey(key), { issuer: ISSUER, audience: AUDIENCE, algorithms: [ALG] });
      return { ok: true, payload };
    } catch (err) {
      return { ok: false, reason: err instanceof errors.JWTExpired ? "expired" : "invalid" };
    }
  }

  private privateKey(key: SigningKey) {
    return this.importOnce(`private:${key.kid}`, key.privateJwk);
  }

  private publicKey(jwk: JWK) {
    return this.importOnce(`public:${jwk.kid}`, jwk);
  }

  private importOnce(id: string, jwk: JWK) {
    let key = this.imported.get(id);
    if (!key) {
      key = importJWK(jwk, ALG);
      this.imported.set(id, key);
    }
    return key;
  }
}
