import { TEST_INTERNAL_SECRET } from "#testing/auth.js";
import { test } from "node:test";
import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { status } from "@grpc/grpc-js";
import { revokedKeys } from "#mesh/auth/revocations.js";
import { serviceToken } from "#mesh/auth/service-token.js";
import { TokenVerifier } from "#mesh/auth/verifier.js";
import { EdgeAuth } from "./edge-policy.js";
import { HttpError } from "./errors.js";
import { memoryRateLimiter, parseRateLimitConfig } from "./ratelimit/index.js";
import type { RouteInfo } from "./router.js";
import { testSigningKey } from "#testing/user-tokens.js";

const signing = await testSigningKey("edge-test");
const jwk = signing.jwk;
const verifier = new TokenVerifier({ keys: async () => [jwk], internalSecret: TEST_INTERNAL_SECRET });

const LIST_DOCUMENTS: RouteInfo = { service: "rag.v1.DocumentsService", method: "ListDocuments", rpcPath: "/rag.v1.DocumentsService/ListDocuments", verb: "GET", template: "/v1/documents", serverStreaming: false };

const accessToken = (akid: string) => signing.accessToken(akid, ["READER"]);

const requestWith = (headers: Record<string, string>) => ({ headers, socket: { remoteAddress: "127.0.0.1" } }) as unknown as IncomingMessage;

/** An identity that exchanges any key for a token of key id `akid-<key>`, counting the exchanges. */
function fakeIdentity() {
  const calls: string[] = [];
  return {
    calls,
    identity: {
      issueToken: async ({ apiKey }: { apiKey: string }) => {
        calls.push(apiKey);
        return { accessToken: await accessToken(`akid-${apiKey}`), tokenType: "Bearer", expiresIn: 900, expireTime: undefined };
      },
    },
  };
}

const limiter = () => memoryRateLimiter(parseRateLimitConfig(undefined));

test("edge auth: an internal service token is refused with 401, even a valid one", async () => {
  const auth = new EdgeAuth(fakeIdentity().identity as never, limiter(), { verifier });
  const token = await serviceToken({ service: "query", tenantId: "t1", userId: undefined }, TEST_INTERNAL_SECRET);
  await assert.rejects(auth.admit(requestWith({ authorization: `Bearer ${token}` }), LIST_DOCUMENTS), (err: unknown) => {
    assert.ok(err instanceof HttpError);
    assert.equal(err.status, 401);
    assert.equal(err.grpcCode, status.UNAUTHENTICATED);
    assert.match(err.message, /internal service tokens are not accepted here/);
    return true;
  });
  const admitted = await auth.admit(requestWith({ authorization: `Bearer ${await accessToken("k-ok")}` }), LIST_DOCUMENTS);
  assert.match(admitted.metadata.authorization!, /^Bearer /);
});

test("edge auth: exchanges are reused only while the revocation watch is live; a revoked key is refused at once", async () => {
  let live = true;
  const { identity, calls } = fakeIdentity();
  const auth = new EdgeAuth(identity as never, limiter(), { verifier, reuseExchanges: () => live });
  const key = "rag_00000000000a_secret";
  await auth.admit(requestWith({ "x-api-key": key }), LIST_DOCUMENTS);
  await auth.admit(requestWith({ "x-api-key": key }), LIST_DOCUMENTS);
  assert.equal(calls.length, 1, "reused while live");
  live = false;
  await auth.admit(requestWith({ "x-api-key": key }), LIST_DOCUMENTS);
  assert.equal(calls.length, 2, "checked with identity again while the watch is down");
  live = true;

  revokedKeys.add(`akid-${key}`, new Date());
  await assert.rejects(auth.admit(requestWith({ "x-api-key": key }), LIST_DOCUMENTS), (err: unknown) => err instanceof HttpError && err.status === 401 && /revoked API key/.test(err.message));
});

test("edge auth: /readyz detail is for callers with a valid credential only", async () => {
  const auth = new EdgeAuth(fakeIdentity().identity as never, limiter(), { verifier });
  assert.equal(await auth.mayReadReadiness(requestWith({})), false);
  assert.equal(await auth.mayReadReadiness(requestWith({ authorization: "Bearer not-a-jwt" })), false);
  assert.equal(await auth.mayReadReadiness(requestWith({ authorization: `Bearer ${await serviceToken({ service: "query", tenantId: "t1", userId: undefined }, TEST_INTERNAL_SECRET)}` })), false);
  assert.equal(await auth.mayReadReadiness(requestWith({ authorization: `Bearer ${await accessToken("k-ready")}` })), true);
});
