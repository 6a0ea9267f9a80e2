import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from "jose";
import pg from "pg";
import { AuthMethod, IdentityServiceClient, Role } from "#gen/rag/v1/identity.js";
import type { PromiseClient } from "#mesh/client.js";
import { expectInvalid, rejection } from "#testing/grpc.js";
import { startTestPostgres, type TestPostgres } from "#testing/postgres.js";
import { startServiceProcess, type ServiceProcess } from "#testing/service-process.js";
import { runtime } from "#testing/runtime.js";

type Identity = PromiseClient<typeof IdentityServiceClient.service>;

const BOOTSTRAP_KEY = "rag_0123456789ab_bootstrapSecretForTheTests_0123";

let pgServer: TestPostgres;
let dbUrl: string;
let service: ServiceProcess;
const open: Identity[] = [];

function client(metadata: Record<string, string> = {}): Identity {
  const c = runtime.connect(IdentityServiceClient, "identity", { target: service.address, metadata });
  open.push(c);
  return c;
}
/** A client acting as a user of a tenant: a service acting on the user's behalf (mesh service token). */
const as = (tenant: string, userId: string) => client({ "x-tenant-id": tenant, "x-caller-id": userId });

/** A client presenting a user's own access token, issued for `apiKey`. */
async function withKey(apiKey: string): Promise<Identity> {
  const { accessToken } = await client().issueToken({ apiKey, ttlSeconds: 300 });
  const c = runtime.connect(IdentityServiceClient, "identity", { target: service.address, auth: { bearer: accessToken } });
  open.push(c);
  return c;
}
const operator = () => withKey(BOOTSTRAP_KEY);

before(async () => {
  pgServer = await startTestPostgres();
  dbUrl = await pgServer.createDatabase("identity");
  service = await startServiceProcess("identity", { DATABASE_URL: dbUrl, IDENTITY_BOOTSTRAP_ADMIN_KEY: BOOTSTRAP_KEY });
});

after(async () => {
  open.splice(0).forEach((c) => c.close());
  const code = await service?.stop();
  await pgServer?.stop();
  assert.equal(code, 0, "identity exits cleanly on SIGTERM");
});

/** A fresh tenant with its admin, as the operator creates it. */
async function newTenant(id: string) {
  const created = await (await operator()).createTenant({ tenantId: id, displayName: `Tenant ${id}`, adminEmail: `Admin@${id}.example` });
  return { ...created, admin: as(id, created.adminUser!.userId) };
}

describe("identity", () => {
  test("bootstrap: tenant default exists and the given key is its operator admin key", async () => {
    const { principal } = await client().authenticate({ credential: { $case: "apiKey", value: BOOTSTRAP_KEY } });
    assert.equal(principal!.tenantId, "default");
    assert.deepEqual(principal!.roles, [Role.ROLE_ADMIN]);
    assert.ok(principal!.permissions.includes("tenants.manage"));
    assert.ok(principal!.permissions.includes("users.manage"));
    assert.equal(principal!.authMethod, AuthMethod.AUTH_METHOD_API_KEY);
    const { tenants } = await (await operator()).listTenants({ pageSize: 0, pageToken: "" });
    assert.ok(tenants.some((t) => t.tenantId === "default"));
  });

  test("the service checks tokens itself: none is UNAUTHENTICATED, a tenant admin cannot create tenants, a reader cannot manage users", async () => {
    const t = await newTenant("guarded");
    const anonymous = runtime.connect(IdentityServiceClient, "identity", { target: service.address, auth: "none" });
    open.push(anonymous);
    const none = await rejection(anonymous.listUsers({ pageSize: 0, pageToken: "", role: 0 }));
    assert.equal(none.code, status.UNAUTHENTICATED);
    assert.match(none.details, /missing credentials/);
    const tenantAdmin = await withKey(t.adminApiKeySecret);
    const denied = await rejection(tenantAdmin.createTenant({ tenantId: "sneaky", displayName: "x", adminEmail: "a@b.cd" }));
    assert.equal(denied.code, status.PERMISSION_DENIED);
    assert.match(denied.details, /tenants\.manage/);
    const reader = await tenantAdmin.createUser({ email: "r@guarded.example", displayName: "R", roles: [Role.ROLE_READER] });
    const readerKey = await tenantAdmin.createApiKey({ name: "r", role: Role.ROLE_READER, userId: reader.user!.userId });
    const asReader = await withKey(readerKey.secret);
    const refused = await rejection(asReader.createUser({ email: "x@guarded.example", displayName: "X", roles: [Role.ROLE_ADMIN] }));
    assert.equal(refused.code, status.PERMISSION_DENIED);
    assert.match(refused.details, /users\.manage.*READER/);
    // A reader manages its own keys, not another user's.
    const own = await asReader.createApiKey({ name: "mine", role: Role.ROLE_READER, userId: "" });
    assert.ok(own.secret.startsWith("rag_"));
    assert.equal((await rejection(asReader.createApiKey({ name: "theirs", role: Role.ROLE_READER, userId: t.adminUser!.userId }))).code, status.PERMISSION_DENIED);
    // Its own token names its user: preferences and history are its own.
    assert.ok((await asReader.getPreferences({})).preferences);
  });

  test("CreateTenant returns an admin user and an admin key shown once", async () => {
    const t = await newTenant("acme");
    assert.equal(t.tenant!.tenantId, "acme");
    assert.equal(t.adminUser!.email, "admin@acme.example");
    assert.deepEqual(t.adminUser!.roles, [Role.ROLE_ADMIN]);
    assert.match(t.adminApiKeySecret, /^rag_[0-9a-f]{12}_/);
    assert.ok(t.adminApiKeySecret.startsWith(t.adminApiKey!.prefix));
    const { principal } = await client().authenticate({ credential: { $case: "apiKey", value: t.adminApiKeySecret } });
    assert.equal(principal!.tenantId, "acme");
    assert.ok(!principal!.permissions.includes("tenants.manage"), "only the operator's key manages tenants");
    assert.equal((await rejection((await operator()).createTenant({ tenantId: "acme", displayName: "again", adminEmail: "a@b.cd" }))).code, status.ALREADY_EXISTS);
    const listed = await t.admin.listApiKeys({ pageSize: 0, pageToken: "", userId: "", includeRevoked: false });
    assert.equal(listed.apiKeys.length, 1);
    // The whole secret after "rag_<12 hex>_" (it may itself contain "_", so split() could pick a fragment).
    assert.ok(!JSON.stringify(listed).includes(t.adminApiKeySecret.slice("rag_0123456789ab_".length)), "listing never shows secrets");
  });

  test("a reader key authenticates with reader permissions only; its secret is stored hashed", async () => {
    const t = await newTenant("readers");
    const { user } = await t.admin.createUser({ email: "reader@readers.example", displayName: "Rea", roles: [Role.ROLE_READER] });
    const created = await t.admin.createApiKey({ name: "ci", role: Role.ROLE_READER, userId: user!.userId });
    const { principal } = await client().authenticate({ credential: { $case: "apiKey", value: created.secret } });
    assert.equal(principal!.userId, user!.userId);
    assert.equal(principal!.apiKeyId, created.apiKey!.apiKeyId);
    assert.ok(principal!.permissions.includes("documents.read"));
    assert.ok(principal!.permissions.includes("query.ask"));
    assert.ok(!principal!.permissions.includes("documents.write"));
    assert.ok(!principal!.permissions.includes("users.manage"));
    assert.deepEqual(principal!.permissions, [...principal!.permissions].sort());

    const db = new pg.Client({ connectionString: dbUrl });
    await db.connect();
    try {
      const secretPart = created.secret.split("_").slice(2).join("_");
      const { rows } = await db.query("SELECT * FROM api_keys WHERE api_key_id = $1", [created.apiKey!.apiKeyId]);
      assert.equal(rows.length, 1);
      const stored = JSON.stringify(rows[0]);
      assert.ok(!stored.includes(secretPart), "the secret is not in the table");
      assert.match(rows[0].secret_hash, /^scrypt\$/);
      const all = await db.query("SELECT count(*) AS n FROM api_keys WHERE secret_hash LIKE $1", [`%${secretPart}%`]);
      assert.equal(all.rows[0].n, "0");
    } finally {
      await db.end();
    }

    // A reader may not get a key above their role.
    expectInvalid(await rejection(t.admin.createApiKey({ name: "x", role: Role.ROLE_EDITOR, userId: user!.userId })), "role", /exceeds/);
  });

  test("revoked, expired, unknown and malformed keys are refused alike", async () => {
    const t = await newTenant("revokers");
    const me = t.adminUser!.userId;
    const key = await t.admin.createApiKey({ name: "temp", role: Role.ROLE_EDITOR, userId: "" });
    assert.equal(key.apiKey!.userId, me);
    await client().authenticate({ credential: { $case: "apiKey", value: key.secret } });
    const revoked = await t.admin.revokeApiKey({ apiKeyId: key.apiKey!.apiKeyId });
    assert.equal(revoked.apiKey!.revoked, true);

    const soon = await t.admin.createApiKey({ name: "short", role: Role.ROLE_READER, userId: "", expireTime: new Date(Date.now() + 1500) });
    await client().authenticate({ credential: { $case: "apiKey", value: soon.secret } });
    // Bounded wait for the expiry to pass (the server compares against its own clock).
    const until = new Date(soon.apiKey!.expireTime!.getTime() + 50);
    while (Date.now() < until.getTime()) await new Promise((r) => setTimeout(r, until.getTime() - Date.now()));

    const wrongSecret = key.secret.slice(0, -4) + (key.secret.endsWith("AAAA") ? "BBBB" : "AAAA");
    for (const value of [key.secret, soon.secret, wrongSecret, "rag_ffffffffffff_nosuchkeynosuchkeynosuchkey", "hello"]) {
      const err = await rejection(client().authenticate({ credential: { $case: "apiKey", value } }));
      assert.equal(err.code, status.UNAUTHENTICATED, value);
      assert.equal(err.details, "invalid or revoked API key");
    }
    assert.equal((await rejection(client().issueToken({ apiKey: key.secret, ttlSeconds: 0 }))).code, status.UNAUTHENTICATED);
    expectInvalid(await rejection(t.admin.createApiKey({ name: "past", role: Role.ROLE_READER, userId: "", expireTime: new Date(Date.now() - 1000) })), "expire_time", /future/);
  });

  test("IssueToken: an ES256 JWT verifiable with the JWKS; Authenticate accepts it and refuses a tampered one", async () => {
    const t = await newTenant("tokens");
    const { user } = await t.admin.createUser({ email: "ed@tokens.example", displayName: "", roles: [Role.ROLE_EDITOR] });
    const key = await t.admin.createApiKey({ name: "svc", role: Role.ROLE_EDITOR, userId: user!.userId });
    const issued = await client().issueToken({ apiKey: key.secret, ttlSeconds: 120 });
    assert.equal(issued.tokenType, "Bearer");
    assert.equal(issued.expiresIn, 120);

    const { keys } = await client().getJwks({});
    assert.ok(keys.length >= 1);
    for (const k of keys) {
      assert.equal(k.kty, "EC");
      assert.equal(k.crv, "P-256");
      assert.equal(k.use, "sig");
      assert.equal(k.alg, "ES256");
      assert.ok(k.x && k.y && k.kid);
      assert.equal(k.n, undefined);
    }
    const jwks = createLocalJWKSet({ keys } as JSONWebKeySet);
    const { payload, protectedHeader } = await jwtVerify(issued.accessToken, jwks, { issuer: "rag-identity", audience: "rag-api" });
    assert.equal(protectedHeader.alg, "ES256");
    assert.equal(protectedHeader.kid, keys[0]!.kid);
    assert.equal(payload.sub, user!.userId);
    assert.equal(payload.tid, "tokens");
    assert.deepEqual(payload.roles, ["EDITOR"]);
    assert.equal(payload.exp! - payload.iat!, 120);

    const { principal } = await client().authenticate({ credential: { $case: "accessToken", value: issued.accessToken } });
    assert.equal(principal!.authMethod, AuthMethod.AUTH_METHOD_ACCESS_TOKEN);
    assert.equal(principal!.tenantId, "tokens");
    assert.equal(principal!.userId, user!.userId);
    assert.equal(principal!.apiKeyId, key.apiKey!.apiKeyId);
    assert.ok(principal!.permissions.includes("documents.write"));
    assert.ok(!principal!.permissions.includes("users.manage"));

    // The key presented as the call's own credential works too.
    const viaHeader = await client({ authorization: `Bearer ${key.secret}` }).issueToken({ apiKey: "", ttlSeconds: 0 });
    assert.equal(viaHeader.expiresIn, 900);

    const [h, p, s] = issued.accessToken.split(".");
    const forged = Buffer.from(JSON.stringify({ ...payload, tid: "readers", roles: ["ADMIN"] })).toString("base64url");
    for (const bad of [`${h}.${forged}.${s}`, `${h}.${p}.${s!.slice(0, -3)}abc`, "not.a.jwt"]) {
      const err = await rejection(client().authenticate({ credential: { $case: "accessToken", value: bad } }));
      assert.equal(err.code, status.UNAUTHENTICATED);
      assert.equal(err.details, "invalid access token");
    }
    expectInvalid(await rejection(client().issueToken({ apiKey: key.secret, ttlSeconds: 7200 })), "ttl_seconds", /0-3600/);
    expectInvalid(await rejection(client().authenticate({})), "credential", /exactly one/);
  });

  test("tenant isolation: tenant B cannot see or change A's users and keys", async () => {
    const a = await newTenant("tenant-a");
    const b = await newTenant("tenant-b");
    const aUser = a.adminUser!.userId;
    const aKey = a.adminApiKey!.apiKeyId;
    assert.equal((await rejection(b.admin.getUser({ userId: aUser }))).code, status.NOT_FOUND);
    assert.equal((await rejection(b.admin.revokeApiKey({ apiKeyId: aKey }))).code, status.NOT_FOUND);
    assert.equal((await rejection(b.admin.deleteUser({ userId: aUser }))).code, status.NOT_FOUND);
    assert.equal((await rejection(b.admin.getTenant({ tenantId: "tenant-a" }))).code, status.NOT_FOUND);
    assert.equal((await rejection(b.admin.listApiKeys({ pageSize: 0, pageToken: "", userId: aUser, includeRevoked: true }))).code, status.NOT_FOUND);
    const users = await b.admin.listUsers({ pageSize: 0, pageToken: "", role: Role.ROLE_UNSPECIFIED });
    assert.deepEqual(users.users.map((u) => u.tenantId), ["tenant-b"]);
    const keys = await b.admin.listApiKeys({ pageSize: 0, pageToken: "", userId: "-", includeRevoked: true });
    assert.ok(keys.apiKeys.every((k) => k.tenantId === "tenant-b"));
    // B's admin id with A's tenant header is not a user of A.
    assert.equal((await rejection(as("tenant-a", b.adminUser!.userId).createApiKey({ name: "x", role: Role.ROLE_READER, userId: "" }))).code, status.UNAUTHENTICATED);
    assert.equal((await rejection(client().listUsers({ pageSize: 0, pageToken: "", role: 0 }))).code, status.UNAUTHENTICATED);
    assert.equal((await a.admin.getTenant({ tenantId: "tenant-a" })).tenant!.tenantId, "tenant-a");
  });

  test("users: create, list by email, update, last admin protected, delete revokes keys", async () => {
    const t = await newTenant("people");
    const admin = t.adminUser!.userId;
    const { user } = await t.admin.createUser({ email: "Zed@People.example", displayName: "Zed", roles: [Role.ROLE_ADMIN] });
    assert.equal(user!.email, "zed@people.example");
    assert.equal((await rejection(t.admin.createUser({ email: "zed@people.example", displayName: "", roles: [Role.ROLE_READER] }))).code, status.ALREADY_EXISTS);
    const first = await t.admin.listUsers({ pageSize: 1, pageToken: "", role: Role.ROLE_ADMIN });
    assert.equal(first.users[0]!.email, "admin@people.example");
    const second = await t.admin.listUsers({ pageSize: 1, pageToken: first.nextPageToken, role: Role.ROLE_ADMIN });
    assert.equal(second.users[0]!.email, "zed@people.example");
    assert.equal(second.nextPageToken, "");

    const key = await t.admin.createApiKey({ name: "zed", role: Role.ROLE_ADMIN, userId: user!.userId });
    const lowered = await t.admin.updateUser({ userId: user!.userId, updateMask: ["roles"], email: "", displayName: "", roles: [Role.ROLE_READER] });
    assert.deepEqual(lowered.user!.roles, [Role.ROLE_READER]);
    assert.equal(lowered.user!.email, "zed@people.example");
    const { principal } = await client().authenticate({ credential: { $case: "apiKey", value: key.secret } });
    assert.deepEqual(principal!.roles, [Role.ROLE_READER], "the key's role follows the user's lowered role");

    const lastAdmin = await rejection(t.admin.updateUser({ userId: admin, updateMask: [], email: "", displayName: "", roles: [Role.ROLE_EDITOR] }));
    assert.equal(lastAdmin.code, status.FAILED_PRECONDITION);
    assert.equal((await rejection(t.admin.deleteUser({ userId: admin }))).code, status.FAILED_PRECONDITION);
    const deleted = await t.admin.deleteUser({ userId: user!.userId });
    assert.equal(deleted.revokedApiKeyCount, 1);
    assert.equal((await rejection(client().authenticate({ credential: { $case: "apiKey", value: key.secret } }))).code, status.UNAUTHENTICATED);
  });

  test("the last live admin key of a tenant, and the operator's bootstrap key, cannot be revoked or deleted with their user", async () => {
    const bootstrap = await client().authenticate({ credential: { $case: "apiKey", value: BOOTSTRAP_KEY } });
    const asOperator = await operator();
    const refusedBootstrap = await rejection(asOperator.revokeApiKey({ apiKeyId: bootstrap.principal!.apiKeyId }));
    assert.equal(refusedBootstrap.code, status.FAILED_PRECONDITION);
    assert.match(refusedBootstrap.details, /operator's bootstrap key, the only key that may create tenants/);
    assert.equal((await client().authenticate({ credential: { $case: "apiKey", value: BOOTSTRAP_KEY } })).principal!.tenantId, "default", "still works");

    const t = await newTenant("keyholders");
    const only = await rejection(t.admin.revokeApiKey({ apiKeyId: t.adminApiKey!.apiKeyId }));
    assert.equal(only.code, status.FAILED_PRECONDITION);
    assert.match(only.details, /last live admin API key.*create another admin key/);
    // A second administrator without a key: deleting the key holder would leave nobody able to administer.
    const { user: second } = await t.admin.createUser({ email: "second@keyholders.example", displayName: "", roles: [Role.ROLE_ADMIN] });
    const lastKeyHolder = await rejection(as("keyholders", second!.userId).deleteUser({ userId: t.adminUser!.userId }));
    assert.equal(lastKeyHolder.code, status.FAILED_PRECONDITION);
    assert.match(lastKeyHolder.details, /last live admin API key/);
    // With another admin key the first one can go.
    await t.admin.createApiKey({ name: "second admin", role: Role.ROLE_ADMIN, userId: second!.userId });
    const revoked = await t.admin.revokeApiKey({ apiKeyId: t.adminApiKey!.apiKeyId });
    assert.equal(revoked.apiKey!.revoked, true);
    // A reader key is never "the last admin key".
    const reader = await t.admin.createApiKey({ name: "reader", role: Role.ROLE_READER, userId: "" });
    assert.equal((await t.admin.revokeApiKey({ apiKeyId: reader.apiKey!.apiKeyId })).apiKey!.revoked, true);
  });

  test("WatchRevocations: recent revocations first, then each one as it happens; services only", async () => {
    const t = await newTenant("watched");
    const early = await t.admin.createApiKey({ name: "early", role: Role.ROLE_READER, userId: "" });
    await t.admin.revokeApiKey({ apiKeyId: early.apiKey!.apiKeyId });
    const late = await t.admin.createApiKey({ name: "late", role: Role.ROLE_READER, userId: "" });
    const { user } = await t.admin.createUser({ email: "gone@watched.example", displayName: "", roles: [Role.ROLE_READER] });
    const gone = await t.admin.createApiKey({ name: "gone", role: Role.ROLE_READER, userId: user!.userId });

    const stop = new AbortController();
    const stream = client().watchRevocations({ watchSeconds: 60 }, { signal: stop.signal, deadlineMs: 70_000 })[Symbol.asyncIterator]();
    const first = await stream.next();
    const initial = first.value!.revoked.map((r: { apiKeyId: string }) => r.apiKeyId);
    assert.ok(initial.includes(early.apiKey!.apiKeyId), "a key revoked before the watch began is in the first batch");
    assert.equal(first.value!.revoked.find((r: { apiKeyId: string }) => r.apiKeyId === early.apiKey!.apiKeyId)!.tenantId, "watched");

    const seen = new Set<string>();
    const until = async (id: string) => {
      while (!seen.has(id)) {
        const next = await stream.next();
        assert.equal(next.done, false);
        for (const r of next.value!.revoked) seen.add(r.apiKeyId);
      }
    };
    await t.admin.revokeApiKey({ apiKeyId: late.apiKey!.apiKeyId });
    await until(late.apiKey!.apiKeyId);
    await t.admin.deleteUser({ userId: user!.userId });
    await until(gone.apiKey!.apiKeyId);
    stop.abort();
    await stream.return?.(undefined);

    // Just before the call's deadline the stream ends cleanly (the watcher reconnects), never with DEADLINE_EXCEEDED.
    const short: unknown[] = [];
    for await (const batch of client().watchRevocations({ watchSeconds: 3600 }, { deadlineMs: 2_500 })) short.push(batch);
    assert.equal(short.length, 1);
    // watch_seconds 0: the recent list alone; out of range: INVALID_ARGUMENT naming the field.
    const once: { revoked: unknown[] }[] = [];
    for await (const batch of client().watchRevocations({ watchSeconds: 0 })) once.push(batch);
    assert.equal(once.length, 1);
    assert.ok(once[0]!.revoked.length >= 3);
    expectInvalid(await rejection((async () => {
      for await (const _ of client().watchRevocations({ watchSeconds: -1 })) break;
    })()), "watch_seconds", /0-3600/);

    const asAdmin = await withKey(t.adminApiKeySecret);
    const refused = await rejection((async () => {
      for await (const _ of asAdmin.watchRevocations({ watchSeconds: 0 })) break;
    })());
    assert.equal(refused.code, status.PERMISSION_DENIED);
  });

  test("WatchRevocations: a revocation made on one identity replica reaches a watcher of another (both on one database)", async () => {
    const replica = await startServiceProcess("identity", { DATABASE_URL: dbUrl, IDENTITY_BOOTSTRAP_ADMIN_KEY: BOOTSTRAP_KEY });
    const other = runtime.connect(IdentityServiceClient, "identity", { target: replica.address });
    const stop = new AbortController();
    try {
      const t = await newTenant("replicated");
      const key = await t.admin.createApiKey({ name: "elsewhere", role: Role.ROLE_READER, userId: "" });
      const stream = other.watchRevocations({ watchSeconds: 60 }, { signal: stop.signal, deadlineMs: 70_000 })[Symbol.asyncIterator]();
      await stream.next(); // the recent list: the watch is open
      await t.admin.revokeApiKey({ apiKeyId: key.apiKey!.apiKeyId }); // on the first replica
      for (;;) {
        const next = await stream.next();
        assert.equal(next.done, false);
        if (next.value!.revoked.some((r: { apiKeyId: string }) => r.apiKeyId === key.apiKey!.apiKeyId)) break;
      }
    } finally {
      stop.abort();
      other.close();
      assert.equal(await replica.stop(), 0);
    }
  });

  test("bad input is named", async () => {
    const t = await newTenant("inputs");
    expectInvalid(await rejection((await operator()).createTenant({ tenantId: "9bad", displayName: "x", adminEmail: "a@b.cd" })), "tenant_id", /valid tenant id/);
    expectInvalid(await rejection((await operator()).createTenant({ tenantId: "", displayName: "", adminEmail: "a@b.cd" })), "display_name", /required/);
    expectInvalid(await rejection((await operator()).createTenant({ tenantId: "", displayName: "x", adminEmail: "nope" })), "admin_email", /not an email/);
    expectInvalid(await rejection(t.admin.createUser({ email: "u@inputs.example", displayName: "", roles: [] })), "roles", /at least one/);
    expectInvalid(await rejection(t.admin.createUser({ email: "u@inputs.example", displayName: "", roles: [7 as Role] })), "roles", /ROLE_READER/);
    expectInvalid(await rejection(t.admin.createApiKey({ name: "", role: Role.ROLE_READER, userId: "" })), "name", /required/);
    expectInvalid(await rejection(t.admin.createApiKey({ name: "k", role: Role.ROLE_UNSPECIFIED, userId: "" })), "role", /required/);
    expectInvalid(await rejection(t.admin.updateUser({ userId: t.adminUser!.userId, updateMask: ["password"], email: "", displayName: "", roles: [] })), "update_mask", /unknown field/);
    // A bad value outside the mask is still a bad request (a fuzz finding: it used to be dropped silently).
    expectInvalid(await rejection(t.admin.updateUser({ userId: t.adminUser!.userId, updateMask: ["display_name"], email: "x".repeat(321), displayName: "ok", roles: [] })), "email", /not an email/);
    expectInvalid(await rejection(t.admin.updatePreferences({ updateMask: [], defaultCollection: "", defaultTopK: 99, defaultModel: "", language: "", historyDisabled: false, custom: {} })), "default_top_k", /0-50/);
    expectInvalid(await rejection(t.admin.listUsers({ pageSize: 0, pageToken: "garbage!", role: 0 })), "page_token", /malformed/);
    expectInvalid(await rejection(t.admin.recordQuery({ question: " ", collection: "", answer: "", answered: false, cached: false, citedDocumentIds: [], model: "", totalMs: 0 })), "question", /required/);
  });

  test("preferences and history are the caller's own", async () => {
    const t = await newTenant("prefs");
    const defaults = await t.admin.getPreferences({});
    assert.equal(defaults.preferences!.defaultTopK, 0);
    assert.equal(defaults.preferences!.updateTime, undefined);
    const updated = await t.admin.updatePreferences({ updateMask: [], defaultCollection: "handbook", defaultTopK: 8, defaultModel: "", language: "de-CH", historyDisabled: false, custom: { theme: "dark" } });
    assert.equal(updated.preferences!.defaultCollection, "handbook");
    assert.equal(updated.preferences!.language, "de-CH");
    assert.deepEqual(updated.preferences!.custom, { theme: "dark" });
    const reset = await t.admin.updatePreferences({ updateMask: ["default_top_k"], defaultCollection: "", defaultTopK: 0, defaultModel: "", language: "", historyDisabled: false, custom: {} });
    assert.equal(reset.preferences!.defaultTopK, 0);
    assert.equal(reset.preferences!.defaultCollection, "handbook", "unmasked fields keep their value");

    const record = (question: string, collection: string) =>
      t.admin.recordQuery({ question, collection, answer: "x".repeat(2500), answered: true, cached: false, citedDocumentIds: ["d1"], model: "m", totalMs: 12.5 });
    const stored = await record("first?", "handbook");
    assert.equal(stored.entry!.answer.length, 2000);
    await record("second?", "other");
    await record("third?", "handbook");
    const page1 = await t.admin.getHistory({ pageSize: 2, pageToken: "", collection: "" });
    assert.deepEqual(page1.entries.map((e) => e.question), ["third?", "second?"]);
    const page2 = await t.admin.getHistory({ pageSize: 2, pageToken: page1.nextPageToken, collection: "" });
    assert.deepEqual(page2.entries.map((e) => e.question), ["first?"]);
    assert.equal(page2.nextPageToken, "");
    const filtered = await t.admin.getHistory({ pageSize: 0, pageToken: "", collection: "other" });
    assert.deepEqual(filtered.entries.map((e) => e.question), ["second?"]);
    // A retried ask carries the same request id: its question is recorded once.
    const retried = { metadata: { "x-request-id": "ask-retried-once" } };
    const entry = { question: "retried?", collection: "other", answer: "a", answered: true, cached: false, citedDocumentIds: [], model: "m", totalMs: 1 };
    const firstTry = await t.admin.recordQuery(entry, retried);
    const secondTry = await t.admin.recordQuery(entry, retried);
    assert.equal(secondTry.entry!.historyId, firstTry.entry!.historyId);
    assert.deepEqual((await t.admin.getHistory({ pageSize: 0, pageToken: "", collection: "other" })).entries.map((e) => e.question), ["retried?", "second?"]);

    const { user } = await t.admin.createUser({ email: "other@prefs.example", displayName: "", roles: [Role.ROLE_READER] });
    const other = as("prefs", user!.userId);
    assert.equal((await other.getHistory({ pageSize: 0, pageToken: "", collection: "" })).entries.length, 0);
    await other.updatePreferences({ updateMask: ["history_disabled"], defaultCollection: "", defaultTopK: 0, defaultModel: "", language: "", historyDisabled: true, custom: {} });
    assert.equal((await other.recordQuery({ question: "secret?", collection: "", answer: "", answered: false, cached: false, citedDocumentIds: [], model: "", totalMs: 0 })).entry, undefined);
    assert.equal((await other.getHistory({ pageSize: 0, pageToken: "", collection: "" })).entries.length, 0);
  });
});
