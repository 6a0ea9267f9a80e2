/**
 * The edge leaks nothing and trusts only what it should (issue 8, deliverable 5), over the real stack:
 * the gateway refuses internal service tokens; with a dependency down (embeddings is not started) or not
 * answering (retrieval stopped with SIGSTOP), 503/504 bodies, job errors and /readyz carry no internal
 * address; the last admin key cannot be revoked; a revoked key fails at the gateway at once, not after the
 * gateway's caches expire; a webhook to a loopback address is refused at subscription.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { SERVICE_NAMES } from "#mesh/catalogue.js";
import { serviceToken } from "#mesh/auth/service-token.js";
import { TEST_INTERNAL_SECRET } from "#testing/auth.js";
import { expectError, ok, pollUntil, RestClient, type RestResponse } from "#testing/rest.js";
import { startTestStack, type TestStack } from "#testing/stack.js";

const ADMIN_KEY = "rag_0123456789ab_bootstrapSecretForTheTests_0123";
const HIGH = { burst: 10_000, perMinute: 600_000, perHour: 10_000_000 };
const LIMITS = { roles: { READER: HIGH, EDITOR: HIGH, ADMIN: HIGH }, tenant: HIGH };

/** No loopback or private address, no host:port, no grpc-js transport words, no stack frame. */
function assertNoInternals(text: string, what: string): void {
  assert.doesNotMatch(text, /\b(127|10|192\.168|172\.(1[6-9]|2\d|3[01]))\.\d{1,3}\.\d{1,3}/, `${what}: an internal address: ${text}`);
  assert.doesNotMatch(text, /localhost|\[::1?\]|\b[a-z][\w.-]*:\d{4,5}\b/i, `${what}: a host and port: ${text}`);
  assert.doesNotMatch(text, /ECONNREFUSED|No connection established|remote_addr|Deadline exceeded after|\n\s+at\s|\.ts:\d+/, `${what}: transport or stack detail: ${text}`);
}

let env: TestStack;
let api: RestClient;
let admin: RestClient;

before(async () => {
  // Every service but embeddings: a dependency that is really down, whose address every service still has.
  env = await startTestStack(
    { IDENTITY_BOOTSTRAP_ADMIN_KEY: ADMIN_KEY, GATEWAY_RATE_LIMITS: JSON.stringify(LIMITS), GATEWAY_UNARY_TIMEOUT_MS: "3000" },
    SERVICE_NAMES.filter((name) => name !== "embeddings"),
  );
  api = new RestClient(env.stack.gatewayUrl!);
  admin = api.as({ apiKey: ADMIN_KEY });
});

after(async () => {
  await env?.stop();
});

/** A new reader with an API key, made by the admin over REST. */
async function readerKey(email: string): Promise<{ key: string; keyId: string }> {
  const { user } = ok(await admin.post("/v1/users", { email, displayName: email, roles: ["ROLE_READER"] }), "create user");
  const created = ok(await admin.post("/v1/apiKeys", { name: `${email} key`, role: "ROLE_READER", userId: user.userId }), "create key");
  return { key: created.secret, keyId: created.apiKey.apiKeyId };
}

describe("the edge", () => {
  test("an internal service token is refused at the gateway with 401, however valid inside the mesh", async () => {
    for (const claims of [
      { service: "query", tenantId: "default", userId: undefined },
      { service: "gateway", tenantId: undefined, userId: undefined },
    ]) {
      const token = await serviceToken(claims, TEST_INTERNAL_SECRET);
      assert.ok(token, "the test process shares the stack's internal secret");
      for (const res of [await api.as({ bearer: token }).get("/v1/documents"), await api.as({ bearer: token }).get("/v1/tenants")]) {
        const body = expectError(res, 401, "UNAUTHENTICATED", `service token of ${claims.service}`);
        assert.match(body.message, /internal service tokens are not accepted here/);
        assert.match(res.headers.get("www-authenticate") ?? "", /Bearer/);
      }
    }
    // The admin's own API key and an access token for it still work.
    ok(await admin.get("/v1/documents"), "API key");
    const { accessToken } = ok(await api.post("/v1/tokens", { apiKey: ADMIN_KEY }), "issue token");
    ok(await api.as({ bearer: accessToken }).get("/v1/documents"), "access token");
  });

  test("with a dependency down, 503 bodies and /readyz name the service and carry no address", async () => {
    const direct = await admin.post("/v1/embeddings", { texts: ["hello"] });
    const body = expectError(direct, 503, "UNAVAILABLE", "embeddings down");
    assert.match(body.message, /embeddings/);
    assertNoInternals(direct.text, "503 from the gateway");

    const ask = await admin.post("/v1/query:ask", { question: "How much are meals refunded?", collection: "handbook" });
    assert.ok(ask.status >= 500, `ask with embeddings down: ${ask.status} ${ask.text}`);
    assertNoInternals(ask.text, "ask relayed from query");

    const anonymous = await api.get("/readyz");
    assert.equal(anonymous.status, 503);
    assert.deepEqual(anonymous.json, { status: "not ready" }, "an unauthenticated caller gets the status alone");
    const detailed = await admin.get("/readyz");
    assert.equal(detailed.status, 503);
    assert.deepEqual(detailed.json.degraded, ["embeddings"], detailed.text);
    assert.deepEqual(detailed.json.problems, ["embeddings: UNAVAILABLE"], detailed.text);
    assertNoInternals(detailed.text, "/readyz");
  });

  test("a job whose dependency is down fails with an error that names it, not its address", async () => {
    const content = Buffer.from("# Travel\n\nMeals are refunded up to 40 euros a day.\n").toString("base64");
    const { job } = ok(await admin.post("/v1/jobs", { collection: "edge", source: { files: { files: [{ filename: "travel.md", content }] } } }), "start job");
    const ended = await pollUntil(
      "the job to end",
      async () => ok(await admin.get(`/v1/jobs/${job.jobId}`), "get job"),
      (r) => ["JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"].includes(r.job.state),
      600,
    );
    assert.equal(ended.job.state, "JOB_STATE_FAILED", JSON.stringify(ended.job));
    assert.match(JSON.stringify(ended.job), /embeddings/, "the error names the service that was down");
    assertNoInternals(JSON.stringify(ended.job), "job error");
  });

  test("an upstream that does not answer gets 504 naming the service, with no address", async () => {
    const pid = env.stack.pids.retrieval!;
    process.kill(pid, "SIGSTOP");
    try {
      const res = await admin.get("/v1/collections");
      const body = expectError(res, 504, "DEADLINE_EXCEEDED", "retrieval stopped");
      assert.match(body.message, /retrieval/);
      assertNoInternals(res.text, "504");
    } finally {
      process.kill(pid, "SIGCONT");
    }
  });

  test("the last admin key cannot be revoked: the bootstrap key is refused with the reason", async () => {
    const { apiKeys } = ok(await admin.get("/v1/apiKeys"), "list own keys");
    const own = apiKeys.find((k: { prefix: string }) => ADMIN_KEY.startsWith(`rag_${k.prefix}`) || ADMIN_KEY.startsWith(k.prefix));
    assert.ok(own, JSON.stringify(apiKeys));
    const res = await admin.post(`/v1/apiKeys/${own.apiKeyId}:revoke`, {});
    const body = expectError(res, 400, "FAILED_PRECONDITION", "revoke the bootstrap key");
    assert.match(body.message, /the only key that may create tenants/);
    ok(await admin.get("/v1/tenants"), "the bootstrap key still works");
  });

  test("a revoked key, and the access tokens issued for it, fail at the gateway at once", async () => {
    const reader = await readerKey("revoked@edge.example");
    const asKey = api.as({ apiKey: reader.key });
    // Used once, so the gateway holds its exchanged token and the verified token in its caches.
    ok(await asKey.get("/v1/documents"), "reader with its key");
    const { accessToken } = ok(await api.post("/v1/tokens", { apiKey: reader.key }), "issue token");
    const asToken = api.as({ bearer: accessToken });
    ok(await asToken.get("/v1/documents"), "reader with its access token");

    ok(await admin.post(`/v1/apiKeys/${reader.keyId}:revoke`, {}), "revoke");
    // A bounded poll: the gateway learns of the revocation from identity's stream, not from a cache expiring
    // (the caches hold entries for up to 60 s).
    const refused = (r: RestResponse) => r.status === 401;
    const byKey = await pollUntil("the revoked key to be refused", () => asKey.get("/v1/documents"), refused, 20, 100);
    assert.match(byKey.json.message, /revoked API key/);
    const byToken = await pollUntil("its access token to be refused", () => asToken.get("/v1/documents"), refused, 20, 100);
    assert.match(byToken.json.message, /revoked API key/);
    ok(await admin.get("/v1/documents"), "other keys are unaffected");
  });

  test("a webhook to a loopback or private address is refused at subscription with 400 naming the url field", async () => {
    for (const url of ["http://127.0.0.1:9/hook", "http://localhost/hook", "https://10.0.0.7/hook", "https://169.254.169.254/latest/meta-data"]) {
      const res = await admin.post("/v1/subscriptions", { url, eventTypes: ["document.deleted"] });
      const body = expectError(res, 400, "INVALID_ARGUMENT", url);
      assert.deepEqual(body.details, [{ field: "url" }], res.text);
      assert.match(body.message, /^url: points to an internal/);
    }
    const { subscriptions } = ok(await admin.get("/v1/subscriptions"), "list subscriptions");
    assert.deepEqual(subscriptions, [], "nothing half-written");
  });
});
