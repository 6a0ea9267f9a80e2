import { TEST_INTERNAL_SECRET } from "#testing/auth.js";
import { test } from "node:test";
import assert from "node:assert/strict";
import { UnauthenticatedError } from "../errors.js";
import { RevokedKeys, watchRevocations, type RevocationBatch } from "./revocations.js";
import { serviceToken } from "./service-token.js";
import { SERVICE_TOKEN_AT_EDGE, TokenVerifier } from "./verifier.js";
import { testSigningKey } from "#testing/user-tokens.js";

const signing = await testSigningKey("k1");
const jwk = signing.jwk;
const userToken = (akid: string) => signing.accessToken(akid, ["ADMIN"]);

const refusedWith = (pattern: RegExp) => (err: unknown) => err instanceof UnauthenticatedError && pattern.test(err.message);

test("verifier: the edge refuses a valid service token, even one this process verified before; the mesh accepts it", async () => {
  const verifier = new TokenVerifier({ keys: async () => [jwk], internalSecret: TEST_INTERNAL_SECRET, revoked: new RevokedKeys() });
  const token = await serviceToken({ service: "query", tenantId: "t1", userId: undefined }, TEST_INTERNAL_SECRET);
  assert.ok(token);
  const inside = await verifier.verify(`Bearer ${token}`);
  assert.equal(inside.kind, "service");
  const edge = refusedWith(new RegExp(`^${SERVICE_TOKEN_AT_EDGE.slice(0, 40)}`));
  await assert.rejects(verifier.verify(`Bearer ${token}`, { acceptServiceTokens: false }), edge);
  await assert.rejects(new TokenVerifier({ keys: async () => [jwk], internalSecret: TEST_INTERNAL_SECRET }).verify(`Bearer ${token}`, { acceptServiceTokens: false }), edge);
  const user = await verifier.verify(`Bearer ${await userToken("key-1")}`, { acceptServiceTokens: false });
  assert.equal(user.kind, "user");
});

test("verifier: a revoked key's tokens are refused from the moment the revocation is known, cached or not", async () => {
  const revoked = new RevokedKeys();
  const verifier = new TokenVerifier({ keys: async () => [jwk], internalSecret: TEST_INTERNAL_SECRET, revoked });
  const token = await userToken("key-2");
  assert.equal((await verifier.verify(`Bearer ${token}`)).apiKeyId, "key-2");
  revoked.add("key-2", new Date());
  await assert.rejects(verifier.verify(`Bearer ${token}`), refusedWith(/^revoked API key/));
  await assert.rejects(verifier.verify(`Bearer ${await userToken("key-2")}`), refusedWith(/^revoked API key/));
  assert.equal((await verifier.verify(`Bearer ${await userToken("key-3")}`)).apiKeyId, "key-3");
  revoked.add("key-old", new Date(Date.now() - 2 * 3_600_000));
  assert.equal(revoked.has("key-old"), false, "revocations older than any token's lifetime are not kept");
});

test("revocation watch: applies batches, goes live on the first, and reconnects after the stream ends or fails", async () => {
  const into = new RevokedKeys();
  let opened = 0;
  const streams: ((signal: AbortSignal) => AsyncIterable<RevocationBatch>)[] = [
    async function* () {
      yield { revoked: [{ apiKeyId: "a", tenantId: "t1", revokeTime: new Date() }] };
      throw new Error("UNAVAILABLE: identity is unavailable: the connection was lost");
    },
    async function* () {
      yield { revoked: [] };
    },
    async function* (signal) {
      yield { revoked: [{ apiKeyId: "b", tenantId: "t1", revokeTime: new Date() }] };
      await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
    },
  ];
  const changes: boolean[] = [];
  let sawB!: () => void;
  const gotB = new Promise<void>((resolve) => (sawB = resolve));
  into.onRevoked((id) => id === "b" && sawB());
  const watch = watchRevocations({ open: (signal) => streams[Math.min(opened++, streams.length - 1)]!(signal), into, backoffMs: 1, onChange: (live) => changes.push(live) });
  assert.equal(watch.downForMs(), Number.POSITIVE_INFINITY, "never live yet");
  await watch.firstLive;
  await gotB;
  assert.equal(watch.downForMs(), 0);
  assert.ok(into.has("a") && into.has("b"));
  assert.equal(watch.live, true);
  assert.equal(opened, 3);
  watch.close();
  assert.equal(watch.live, false);
  assert.deepEqual(changes, [true, false, true, false, true, false]);
});
