/**
 * A signing key like identity's, and access tokens signed with it, for tests of the code that verifies
 * them (the mesh's verifier, the gateway's edge policy) without an identity service.
 */
import { exportJWK, generateKeyPair, SignJWT, type JWK } from "jose";
import { USER_TOKEN_AUDIENCE, USER_TOKEN_ISSUER } from "#mesh/auth/verifier.js";

export interface TestSigningKey {
  /** The public key as identity's JWKS serves it. */
  jwk: JWK;
  /** An access token for user u1 of tenant t1 with `roles`, issued from API key `akid`, valid 10 minutes. */
  accessToken(akid: string, roles: string[]): Promise<string>;
}

export async function testSigningKey(kid: string): Promise<TestSigningKey> {
  const { publicKey, privateKey } = await generateKeyPair("ES256");
  return {
    jwk: { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" },
    accessToken: (akid, roles) =>
      new SignJWT({ tid: "t1", roles, akid })
        .setProtectedHeader({ alg: "ES256", kid })
        .setIssuer(USER_TOKEN_ISSUER)
        .setAudience(USER_TOKEN_AUDIENCE)
        .setSubject("u1")
        .setIssuedAt()
        .setExpirationTime("10m")
        .sign(privateKey),
  };
}
