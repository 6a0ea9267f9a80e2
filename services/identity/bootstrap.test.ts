import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from "jose";
import { IdentityServiceClient } from "#gen/rag/v1/identity.js";
import { startTestPostgres, type TestPostgres } from "#testing/postgres.js";
import { startServiceProcess, type ServiceProcess } from "#testing/service-process.js";
import { runtime } from "#testing/runtime.js";

// Rotation every ~1.7 s, so the test sees a rotation without waiting long.
const ROTATION_DAYS = "0.00002";
const ROTATION_MS = 0.00002 * 86_400_000;

let pgServer: TestPostgres;
let dbUrl: string;
const started: ServiceProcess[] = [];

async function start(): Promise<ServiceProcess> {
  const s = await startServiceProcess("identity", { DATABASE_URL: dbUrl, IDENTITY_KEY_ROTATION_DAYS: ROTATION_DAYS });
  started.push(s);
  return s;
}

before(async () => {
  pgServer = await startTestPostgres();
  dbUrl = await pgServer.createDatabase("identity_bootstrap");
});

after(async () => {
  for (const s of started) await s.stop();
  await pgServer?.stop();
});

test("first start without a bootstrap key logs a generated admin key once; restarts keep signing keys and rotate them", async () => {
  const first = await start();
  const logged = first.lines.map((l) => JSON.parse(l) as { level?: string; message?: string; adminApiKey?: string }).find((e) => e.adminApiKey);
  assert.ok(logged, "the generated key is logged");
  assert.equal(logged.level, "warn");
  assert.match(logged.message!, /shown ONLY NOW/);
  const c1 = runtime.connect(IdentityServiceClient, "identity", { target: first.address });
  const { principal } = await c1.authenticate({ credential: { $case: "apiKey", value: logged.adminApiKey! } });
  assert.equal(principal!.tenantId, "default");
  assert.ok(principal!.permissions.includes("tenants.manage"));
  const oldToken = (await c1.issueToken({ apiKey: logged.adminApiKey!, ttlSeconds: 600 })).accessToken;
  c1.close();
  assert.equal(await first.stop(), 0);

  const second = await start();
  assert.ok(!second.lines.some((l) => l.includes("adminApiKey")), "a restart creates no tenant and logs no key");
  const c2 = runtime.connect(IdentityServiceClient, "identity", { target: second.address });
  try {
    // Bounded wait until the first signing key is due for rotation.
    const oldKid = decodeProtectedHeader(oldToken).kid!;
    const deadline = Date.now() + 10 * ROTATION_MS;
    let newToken = oldToken;
    while (decodeProtectedHeader(newToken).kid === oldKid && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, ROTATION_MS / 4));
      newToken = (await c2.issueToken({ apiKey: logged.adminApiKey!, ttlSeconds: 60 })).accessToken;
    }
    const newKid = decodeProtectedHeader(newToken).kid!;
    assert.notEqual(newKid, oldKid, "a new key signs after the rotation period");
    const { keys } = await c2.getJwks({});
    assert.equal(keys[0]!.kid, newKid, "the current key comes first");
    assert.ok(keys.some((k) => k.kid === oldKid), "the old key stays published while its tokens live");
    const jwks = createLocalJWKSet({ keys } as JSONWebKeySet);
    for (const token of [oldToken, newToken]) {
      await jwtVerify(token, jwks, { issuer: "rag-identity", audience: "rag-api" });
      const { principal: p } = await c2.authenticate({ credential: { $case: "accessToken", value: token } });
      assert.equal(p!.tenantId, "default");
    }
  } finally {
    c2.close();
  }
});
