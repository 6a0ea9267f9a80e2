/**
 * Every public REST route of the Node gateway, against the whole stack: one table entry per
 * `google.api.http` binding in gen/rag.binpb (a new route without an entry fails the suite), and for each:
 *   1. success for the least-privileged caller holding the route's permission (mesh/auth/permissions.ts);
 *   2. 401 without credentials and with a wrong API key (the two public routes need none);
 *   3. 403 naming the permission for a caller whose role lacks it (not where every role has it: the table says so);
 *   4. 400 naming the field for bad input;
 *   5. 404 for a well-formed unknown id, where the route addresses a resource by id.
 * The three server streams succeed as SSE (ending with `event: end`) and as NDJSON.
 * Run: LOG_LEVEL=error node --import tsx --test tests/rest-routes.test.ts
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { httpBindings, loadRegistry } from "../gateway/node/http-rules.js";
import { AUTHENTICATED, OPERATOR_PERMISSION, PUBLIC, ROLE_NAMES, permissionsOfRoles, requiredPermission } from "#mesh/auth/permissions.js";
import { expectError, ndjsonMessages, ok, pollUntil, RestClient, sseMessages, type RestResponse } from "#testing/rest.js";
import { startTestStack, type TestStack } from "#testing/stack.js";

const BOOTSTRAP_KEY = "rag_0123456789ab_bootstrapSecretForTheTests_0123";
/** Well-formed (the format real keys have) but issued to nobody. */
const WRONG_KEY = "rag_fedcba987654_thisKeyWasNeverIssuedByIdentity_00";
/** A well-formed id (ids are UUIDs) that names nothing. */
const UNKNOWN_ID = "00000000-0000-4000-8000-000000000000";
/** Decodes to a blank path variable: the id is present in the path but says nothing. */
const BLANK = "%20";
/** Where the fixture document lives; other tests use their own collections so counts here stay exact. */
const CATS = "cats";
const CATS_TEXT = "# Cats\n\nCats sleep sixteen hours a day. They purr when they are content.\n";
const CATS_QUESTION = "How long do cats sleep?";
const NO_LIMITS = { burst: 1000, perMinute: 60_000, perHour: 1_000_000 };

type Caller = "reader" | "editor" | "admin" | "operator";
type Verb = "GET" | "POST" | "PATCH" | "DELETE";

/** A concrete request to a case's route: the path (ids filled in, maybe a query) and the JSON body. */
interface Req {
  path: string;
  body?: unknown;
}

interface RouteCase {
  /** "VERB /template", exactly as in the binding. */
  route: string;
  /** A request that reaches the route, for the credential and permission checks. */
  sample: Req;
  /** Server streams: success is checked as SSE and as NDJSON by `success` itself. */
  streaming?: true;
  /** Called with a client of the least-privileged caller holding the route's permission (no credential for public routes). */
  success(api: RestClient): Promise<void>;
  /** Public routes: a request whose own (bad) credential must be refused with 401. */
  wrongCredential?: Req;
  /**
   * A caller lacking the permission and what it is refused: by default the route's permission on the sample
   * request; a handler-level check names its own (e.g. users.manage for another user's keys). A string says
   * why there is no 403 case.
   */
  forbidden: { as: Caller; request?: Req; permission?: string } | string;
  /** A request with one bad field, and the field its error must name; a string says why there is none. */
  badInput: { request: Req; field: string } | string;
  /** A request for an unknown but well-formed id; a string says why the route has no such case. */
  notFound: Req | string;
}

interface Fixtures {
  gateway: RestClient;
  clients: Record<Caller, RestClient>;
  readerKey: string;
  userIds: Record<"reader" | "editor" | "admin", string>;
  editorKeyId: string;
  /** The ingestion job that stored CATS_TEXT into CATS, and the document it created. */
  jobId: string;
  documentId: string;
  /** A subscription to every event type, created before the job, delivering to `webhookHits`. */
  subscriptionId: string;
  receiverUrl: string;
  webhookHits: { path: string; body: string }[];
}

let stack: TestStack;
let receiver: Server;
let fx: Fixtures;

const at = (path: string, body?: unknown): Req => ({ path, body });
const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");
const send = (api: RestClient, verb: Verb, req: Req) => api.request(verb, req.path, { body: req.body });

// ---------------------------------------------------------------------------------------------------------
// Helpers the table's success checks share.

async function createDocument(api: RestClient, collection: string, title: string, text: string): Promise<any> {
  return ok(await api.post("/v1/documents", { title, text, collection }), "create document").document;
}

async function newUser(email: string, role: string): Promise<string> {
  const body = ok(await fx.clients.operator.post("/v1/users", { email, displayName: email.split("@")[0], roles: [role] }), `create user ${email}`);
  return body.user.userId as string;
}

async function newKey(api: RestClient, userId: string, role: string, name: string): Promise<{ id: string; secret: string }> {
  const body = ok(await api.post("/v1/apiKeys", { name, role, userId }), `create key ${name}`);
  assert.match(body.secret, /^rag_/);
  return { id: body.apiKey.apiKeyId, secret: body.secret };
}

async function finishedJob(api: RestClient, jobId: string): Promise<any> {
  const body = await pollUntil(
    `job ${jobId}`,
    async () => ok(await api.get(`/v1/jobs/${jobId}`), "get job"),
    (b) => ["JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"].includes(b.job.state),
  );
  return body.job;
}

async function startFilesJob(api: RestClient, collection: string, filename: string, text: string): Promise<any> {
  const body = ok(await api.post("/v1/jobs", { collection, displayName: filename, source: { files: { files: [{ filename, content: b64(text) }] } } }), "start job");
  return body.job;
}

/** The same streaming request as SSE (the default) and as NDJSON; both must carry the same kinds of messages. */
async function bothStreamFormats(api: RestClient, verb: Verb, req: Req, what: string): Promise<{ sse: any[]; ndjson: any[] }> {
  const sse = sseMessages(await send(api, verb, req), `${what} (SSE)`);
  const ndjson = ndjsonMessages(await api.request(verb, req.path, { body: req.body, headers: { accept: "application/x-ndjson" } }), `${what} (NDJSON)`);
  return { sse, ndjson };
}

const joined = (messages: any[], field: string) => messages.map((m) => m[field] ?? "").join("");

// ---------------------------------------------------------------------------------------------------------
// The table: one entry per REST binding, in descriptor order.

const ROUTES: RouteCase[] = [
  // DocumentsService
  {
    route: "POST /v1/documents",
    sample: at("/v1/documents", { title: "t", text: "x" }),
    async success(api) {
      const doc = await createDocument(api, "rest-docs", "Dogs", "Dogs bark at the mail carrier every morning.");
      assert.match(doc.documentId, /^[0-9a-f-]{36}$/);
      assert.equal(doc.title, "Dogs");
      assert.equal(doc.collection, "rest-docs");
      assert.equal(doc.version, "1");
      assert.ok(doc.chunkCount >= 1, JSON.stringify(doc));
    },
    forbidden: { as: "reader" },
    badInput: { request: at("/v1/documents", { title: "t", text: "x", collection: "Not A Name" }), field: "collection" },
    notFound: "creates a document; addresses none by id",
  },
  {
    route: "GET /v1/documents/{document_id}",
    sample: at(`/v1/documents/${UNKNOWN_ID}`),
    async success(api) {
      const doc = ok(await api.get(`/v1/documents/${fx.documentId}?include_text=true`), "get").document;
      assert.equal(doc.documentId, fx.documentId);
      assert.equal(doc.collection, CATS);
      assert.equal(doc.status, "DOCUMENT_STATUS_INDEXED");
      assert.match(doc.text, /sixteen hours a day/);
    },
    forbidden: "every role has documents.read",
    badInput: { request: at(`/v1/documents/${BLANK}`), field: "document_id" },
    notFound: at(`/v1/documents/${UNKNOWN_ID}`),
  },
  {
    route: "GET /v1/documents",
    sample: at("/v1/documents"),
    async success(api) {
      const docs = ok(await api.get(`/v1/documents?collection=${CATS}`), "list").documents as any[];
      assert.deepEqual(
        docs.map((d) => d.documentId),
        [fx.documentId],
      );
      assert.equal(docs[0].text, "", "listings never carry the text");
    },
    forbidden: "every role has documents.read",
    badInput: { request: at("/v1/documents?collection=Not%20A%20Name"), field: "collection" },
    notFound: "lists documents; addresses none by id",
  },
  {
    route: "PATCH /v1/documents/{document_id}",
    sample: at(`/v1/documents/${UNKNOWN_ID}`, { title: "t" }),
    async success(api) {
      const doc = await createDocument(api, "rest-docs", "Draft", "Parrots can live for eighty years.");
      const updated = ok(await api.patch(`/v1/documents/${doc.documentId}`, { title: "Parrots", updateMask: "title" }), "update").document;
      assert.equal(updated.documentId, doc.documentId);
      assert.equal(updated.title, "Parrots");
      assert.equal(updated.version, "2");
    },
    forbidden: { as: "reader" },
    badInput: { request: at(`/v1/documents/${UNKNOWN_ID}`, { updateMask: "tenant_id" }), field: "update_mask" },
    notFound: at(`/v1/documents/${UNKNOWN_ID}`, { title: "t" }),
  },
  {
    route: "DELETE /v1/documents/{document_id}",
    sample: at(`/v1/documents/${UNKNOWN_ID}`),
    async success(api) {
      const doc = await createDocument(api, "rest-docs", "Doomed", "This document is about to be deleted.");
      const body = ok(await api.delete(`/v1/documents/${doc.documentId}`), "delete");
      assert.equal(body.deletedChunkCount, doc.chunkCount);
      expectError(await api.get(`/v1/documents/${doc.documentId}`), 404, "NOT_FOUND", "the deleted document");
    },
    forbidden: { as: "reader" },
    badInput: { request: at(`/v1/documents/${BLANK}`), field: "document_id" },
    notFound: at(`/v1/documents/${UNKNOWN_ID}`),
  },
  {
    route: "GET /v1/documents/{document_id}/chunks",
    sample: at(`/v1/documents/${UNKNOWN_ID}/chunks`),
    async success(api) {
      const chunks = ok(await api.get(`/v1/documents/${fx.documentId}/chunks`), "chunks").chunks as any[];
      assert.ok(chunks.length >= 1);
      assert.ok(chunks.every((c, i) => c.documentId === fx.documentId && c.index === i), JSON.stringify(chunks));
      assert.match(chunks.map((c) => c.text).join(" "), /sixteen hours/);
    },
    forbidden: "every role has documents.read",
    badInput: { request: at(`/v1/documents/${UNKNOWN_ID}/chunks?page_token=not-a-token`), field: "page_token" },
    notFound: at(`/v1/documents/${UNKNOWN_ID}/chunks`),
  },

  // EmbeddingsService
  {
    route: "POST /v1/embeddings",
    sample: at("/v1/embeddings", { texts: ["x"] }),
    async success(api) {
      const body = ok(await api.post("/v1/embeddings", { texts: ["cats sleep", "dogs bark"], inputType: "EMBEDDING_INPUT_TYPE_QUERY" }), "embed");
      assert.equal(body.vectors.length, 2);
      assert.ok(body.dimensions > 0);
      for (const v of body.vectors) assert.equal(v.values.length, body.dimensions);
      assert.notDeepEqual(body.vectors[0].values, body.vectors[1].values, "different texts, different vectors");
    },
    forbidden: "every role has models.use",
    badInput: { request: at("/v1/embeddings", { texts: [] }), field: "texts" },
    notFound: "computes; addresses nothing by id",
  },

  // GenerationService
  {
    route: "POST /v1/generation:generate",
    sample: at("/v1/generation:generate", { question: "x" }),
    async success(api) {
      const body = ok(await api.post("/v1/generation:generate", { question: CATS_QUESTION, passages: [{ text: "Cats sleep sixteen hours a day." }] }), "generate");
      assert.equal(body.answered, true);
      assert.match(body.answer, /sixteen hours/);
      assert.equal(body.citations[0]?.marker, 1, JSON.stringify(body));
    },
    forbidden: "every role has models.use",
    badInput: { request: at("/v1/generation:generate", { question: "  " }), field: "question" },
    notFound: "computes; addresses nothing by id",
  },
  {
    route: "POST /v1/generation:stream",
    streaming: true,
    sample: at("/v1/generation:stream", { question: "x" }),
    async success(api) {
      const req = at("/v1/generation:stream", { question: CATS_QUESTION, passages: [{ text: "Cats sleep sixteen hours a day." }] });
      for (const [format, messages] of Object.entries(await bothStreamFormats(api, "POST", req, "generate stream"))) {
        assert.match(joined(messages, "delta"), /sixteen hours/, format);
        assert.ok(messages.some((m) => m.citation?.marker === 1), `${format}: a citation`);
        assert.equal(messages.at(-1).summary?.answered, true, `${format}: ends with the summary`);
      }
    },
    forbidden: "every role has models.use",
    badInput: { request: at("/v1/generation:stream", { question: "" }), field: "question" },
    notFound: "computes; addresses nothing by id",
  },

  // IdentityService
  {
    route: "POST /v1/tenants",
    sample: at("/v1/tenants", { displayName: "x", adminEmail: "x@example.test" }),
    async success(api) {
      const body = ok(await api.post("/v1/tenants", { tenantId: "rest-acme", displayName: "Acme", adminEmail: "Boss@Acme.test" }), "create tenant");
      assert.equal(body.tenant.tenantId, "rest-acme");
      assert.equal(body.adminUser.email, "boss@acme.test");
      assert.deepEqual(body.adminUser.roles, ["ROLE_ADMIN"]);
      // The bootstrap key works at once, inside the new tenant only.
      const acme = api.as({ apiKey: body.adminApiKeySecret });
      assert.equal(ok(await acme.get("/v1/tenants/rest-acme"), "the new admin reads its tenant").tenant.displayName, "Acme");
      assert.deepEqual(ok(await acme.get("/v1/documents"), "the new tenant's documents").documents, []);
    },
    forbidden: { as: "admin" },
    badInput: { request: at("/v1/tenants", { displayName: "Bad", adminEmail: "not-an-email" }), field: "admin_email" },
    notFound: "creates a tenant; addresses none by id",
  },
  {
    route: "GET /v1/tenants/{tenant_id}",
    sample: at("/v1/tenants/default"),
    async success(api) {
      const tenant = ok(await api.get("/v1/tenants/default"), "get tenant").tenant;
      assert.equal(tenant.tenantId, "default");
      assert.ok(tenant.displayName);
    },
    forbidden: "every authenticated caller may read its own tenant",
    badInput: { request: at(`/v1/tenants/${BLANK}`), field: "tenant_id" },
    notFound: at("/v1/tenants/no-such-tenant"),
  },
  {
    route: "GET /v1/tenants",
    sample: at("/v1/tenants"),
    async success(api) {
      const ids = (ok(await api.get("/v1/tenants"), "list tenants").tenants as any[]).map((t) => t.tenantId);
      assert.ok(ids.includes("default"), JSON.stringify(ids));
    },
    forbidden: { as: "admin" },
    badInput: { request: at("/v1/tenants?page_token=not-a-token"), field: "page_token" },
    notFound: "lists tenants; addresses none by id",
  },
  {
    route: "POST /v1/users",
    sample: at("/v1/users", { email: "x@example.test", roles: ["ROLE_READER"] }),
    async success(api) {
      const user = ok(await api.post("/v1/users", { email: "New.Editor@Example.test", displayName: "New editor", roles: ["ROLE_EDITOR"] }), "create user").user;
      assert.equal(user.email, "new.editor@example.test");
      assert.equal(user.tenantId, "default");
      assert.deepEqual(user.roles, ["ROLE_EDITOR"]);
    },
    forbidden: { as: "reader" },
    badInput: { request: at("/v1/users", { email: "not-an-email", roles: ["ROLE_READER"] }), field: "email" },
    notFound: "creates a user; addresses none by id",
  },
  {
    route: "GET /v1/users/{user_id}",
    sample: at(`/v1/users/${UNKNOWN_ID}`),
    async success(api) {
      const user = ok(await api.get(`/v1/users/${fx.userIds.reader}`), "get user").user;
      assert.equal(user.userId, fx.userIds.reader);
      assert.equal(user.email, "reader@example.test");
      assert.deepEqual(user.roles, ["ROLE_READER"]);
    },
    forbidden: { as: "reader" },
    badInput: { request: at(`/v1/users/${BLANK}`), field: "user_id" },
    notFound: at(`/v1/users/${UNKNOWN_ID}`),
  },
  {
    route: "GET /v1/users",
    sample: at("/v1/users"),
    async success(api) {
      const users = ok(await api.get("/v1/users?role=ROLE_READER"), "list readers").users as any[];
      assert.ok(users.some((u) => u.userId === fx.userIds.reader), JSON.stringify(users));
      assert.ok(users.every((u) => u.roles.includes("ROLE_READER")), "the role filter applies");
      assert.ok(!users.some((u) => u.userId === fx.userIds.editor));
    },
    forbidden: { as: "reader" },
    badInput: { request: at("/v1/users?role=ROLE_OWNER"), field: "role" },
    notFound: "lists users; addresses none by id",
  },
  {
    route: "PATCH /v1/users/{user_id}",
    sample: at(`/v1/users/${UNKNOWN_ID}`, { displayName: "x" }),
    async success(api) {
      const id = await newUser("renamed@example.test", "ROLE_READER");
      const user = ok(await api.patch(`/v1/users/${id}`, { displayName: "Renamed", roles: ["ROLE_EDITOR"] }), "update user").user;
      assert.equal(user.displayName, "Renamed");
      assert.deepEqual(user.roles, ["ROLE_EDITOR"]);
      assert.equal(user.email, "renamed@example.test", "fields left empty keep their value");
    },
    forbidden: { as: "reader" },
    badInput: { request: at("/v1/users/{reader}", { updateMask: "password" }), field: "update_mask" },
    notFound: at(`/v1/users/${UNKNOWN_ID}`, { displayName: "x" }),
  },
  {
    route: "DELETE /v1/users/{user_id}",
    sample: at(`/v1/users/${UNKNOWN_ID}`),
    async success(api) {
      const id = await newUser("leaver@example.test", "ROLE_READER");
      const key = await newKey(fx.clients.operator, id, "ROLE_READER", "leaver-key");
      assert.equal(ok(await api.delete(`/v1/users/${id}`), "delete user").revokedApiKeyCount, 1);
      expectError(await api.get(`/v1/users/${id}`), 404, "NOT_FOUND", "the deleted user");
      expectError(await api.as({ apiKey: key.secret }).get("/v1/documents"), 401, "UNAUTHENTICATED", "the deleted user's key");
    },
    forbidden: { as: "reader" },
    badInput: { request: at(`/v1/users/${BLANK}`), field: "user_id" },
    notFound: at(`/v1/users/${UNKNOWN_ID}`),
  },
  {
    route: "POST /v1/apiKeys",
    sample: at("/v1/apiKeys", { name: "x", role: "ROLE_READER" }),
    async success(api) {
      const body = ok(await api.post("/v1/apiKeys", { name: "reader-cli", role: "ROLE_READER" }), "create own key");
      assert.equal(body.apiKey.userId, fx.userIds.reader, "an empty user_id means the caller");
      assert.equal(body.apiKey.role, "ROLE_READER");
      assert.ok(body.secret.startsWith(body.apiKey.prefix), "the prefix identifies the secret");
      ok(await api.as({ apiKey: body.secret }).get("/v1/documents"), "the new key works");
    },
    forbidden: { as: "reader", request: at("/v1/apiKeys", { name: "x", role: "ROLE_READER", userId: "{editor}" }), permission: "users.manage" },
    badInput: { request: at("/v1/apiKeys", { name: " ", role: "ROLE_READER" }), field: "name" },
    notFound: "creates a key; addresses none in its path",
  },
  {
    route: "GET /v1/apiKeys",
    sample: at("/v1/apiKeys"),
    async success(api) {
      const keys = ok(await api.get("/v1/apiKeys"), "list own keys").apiKeys as any[];
      assert.ok(keys.length >= 1);
      assert.ok(keys.every((k) => k.userId === fx.userIds.reader), "only the caller's own keys");
      assert.ok(fx.readerKey.startsWith(keys.at(-1).prefix), "the oldest is the key the reader was given");
    },
    forbidden: { as: "reader", request: at("/v1/apiKeys?user_id=-"), permission: "users.manage" },
    badInput: { request: at("/v1/apiKeys?page_token=not-a-token"), field: "page_token" },
    notFound: "lists keys; addresses none by id",
  },
  {
    route: "POST /v1/apiKeys/{api_key_id}:revoke",
    sample: at(`/v1/apiKeys/${UNKNOWN_ID}:revoke`, {}),
    async success(api) {
      const own = ok(await api.post("/v1/apiKeys", { name: "short-lived", role: "ROLE_READER" }), "create own key");
      const revoked = ok(await api.post(`/v1/apiKeys/${own.apiKey.apiKeyId}:revoke`, {}), "revoke").apiKey;
      assert.equal(revoked.apiKeyId, own.apiKey.apiKeyId);
      assert.equal(revoked.revoked, true);
      assert.ok(revoked.revokeTime);
      expectError(await api.as({ apiKey: own.secret }).get("/v1/documents"), 401, "UNAUTHENTICATED", "the revoked key");
    },
    forbidden: { as: "reader", request: at("/v1/apiKeys/{editorKey}:revoke", {}), permission: "users.manage" },
    badInput: { request: at(`/v1/apiKeys/${BLANK}:revoke`, {}), field: "api_key_id" },
    notFound: at(`/v1/apiKeys/${UNKNOWN_ID}:revoke`, {}),
  },
  {
    route: "POST /v1/tokens",
    sample: at("/v1/tokens", { apiKey: BOOTSTRAP_KEY }),
    async success(api) {
      const body = ok(await api.post("/v1/tokens", { apiKey: fx.readerKey, ttlSeconds: 600 }), "issue token");
      assert.equal(body.tokenType, "Bearer");
      assert.equal(body.expiresIn, 600);
      assert.equal(body.accessToken.split(".").length, 3, "a JWT");
      const asReader = api.as({ bearer: body.accessToken });
      ok(await asReader.get("/v1/documents"), "the token authenticates");
      expectError(await asReader.post("/v1/documents", { title: "t", text: "x" }), 403, "PERMISSION_DENIED", "the token carries the key's role");
    },
    wrongCredential: at("/v1/tokens", { apiKey: WRONG_KEY }),
    forbidden: "public: the API key in the body is the credential",
    badInput: { request: at("/v1/tokens", { apiKey: BOOTSTRAP_KEY, ttlSeconds: 99_999 }), field: "ttl_seconds" },
    notFound: "exchanges a key; addresses nothing by id",
  },
  {
    route: "GET /v1/.well-known/jwks.json",
    sample: at("/v1/.well-known/jwks.json"),
    async success(api) {
      const keys = ok(await api.get("/v1/.well-known/jwks.json"), "jwks").keys as any[];
      assert.ok(keys.length >= 1);
      for (const k of keys) {
        assert.equal(k.use, "sig");
        assert.ok(["EC", "RSA"].includes(k.kty), k.kty);
        assert.equal("d" in k, false, "never a private key");
      }
      // Tokens name their signing key, and that key is published.
      const token = ok(await api.post("/v1/tokens", { apiKey: fx.readerKey }), "issue token").accessToken as string;
      const { kid } = JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString("utf8"));
      assert.ok(keys.some((k) => k.kid === kid), `kid ${kid} is in the JWKS`);
    },
    forbidden: "public",
    badInput: "takes no input",
    notFound: "addresses nothing by id",
  },
  {
    route: "GET /v1/preferences",
    sample: at("/v1/preferences"),
    async success(api) {
      const prefs = ok(await api.get("/v1/preferences"), "get preferences").preferences;
      // The reader never changed them (the PATCH case runs later): the defaults.
      assert.equal(prefs.defaultCollection, "");
      assert.equal(prefs.defaultTopK, 0);
      assert.equal(prefs.historyDisabled, false);
      assert.deepEqual(prefs.custom, {});
    },
    forbidden: "every role has preferences.manage",
    badInput: "takes no input",
    notFound: "the caller's own preferences always exist",
  },
  {
    route: "PATCH /v1/preferences",
    sample: at("/v1/preferences", {}),
    async success(api) {
      const set = ok(await api.patch("/v1/preferences", { language: "de-CH", defaultTopK: 7, custom: { theme: "dark" } }), "update preferences").preferences;
      assert.equal(set.language, "de-CH");
      assert.equal(set.defaultTopK, 7);
      assert.deepEqual(set.custom, { theme: "dark" });
      const read = ok(await api.get("/v1/preferences"), "read back").preferences;
      assert.deepEqual({ language: read.language, defaultTopK: read.defaultTopK, custom: read.custom }, { language: "de-CH", defaultTopK: 7, custom: { theme: "dark" } });
    },
    forbidden: "every role has preferences.manage",
    badInput: { request: at("/v1/preferences", { defaultTopK: 99 }), field: "default_top_k" },
    notFound: "the caller's own preferences always exist",
  },
  {
    route: "GET /v1/history",
    sample: at("/v1/history"),
    async success(api) {
      const question = "Do cats purr?";
      ok(await api.post("/v1/query:ask", { question, collection: CATS }), "ask");
      // The query service records history after answering, without making the caller wait.
      const entries = await pollUntil(
        "history entry",
        async () => ok(await api.get(`/v1/history?collection=${CATS}`), "history").entries as any[],
        (list) => list.some((e) => e.question === question),
      );
      const entry = entries.find((e) => e.question === question);
      assert.equal(entry.userId, fx.userIds.reader);
      assert.equal(entry.collection, CATS);
      assert.match(entry.answer, /purr/);
    },
    forbidden: "every role has history.read",
    badInput: { request: at("/v1/history?page_token=not-a-token"), field: "page_token" },
    notFound: "lists the caller's history; addresses nothing by id",
  },

  // IngestionService
  {
    route: "POST /v1/jobs",
    sample: at("/v1/jobs", {}),
    async success(api) {
      const job = await startFilesJob(api, "rest-jobs", "owls.md", "Owls can turn their heads about 270 degrees.");
      assert.match(job.jobId, /^[0-9a-f-]{36}$/);
      assert.equal(job.collection, "rest-jobs");
      assert.equal(job.source.files.files[0].content, "", "uploaded bytes are not echoed back");
      const done = await finishedJob(api, job.jobId);
      assert.equal(done.state, "JOB_STATE_SUCCEEDED", JSON.stringify(done));
      assert.equal(done.progress.documentsCreated, "1");
    },
    forbidden: { as: "reader" },
    badInput: { request: at("/v1/jobs", { collection: "rest-jobs" }), field: "source" },
    notFound: "starts a job; addresses none by id",
  },
  {
    route: "GET /v1/jobs/{job_id}",
    sample: at(`/v1/jobs/${UNKNOWN_ID}`),
    async success(api) {
      const job = ok(await api.get(`/v1/jobs/${fx.jobId}`), "get job").job;
      assert.equal(job.jobId, fx.jobId);
      assert.equal(job.state, "JOB_STATE_SUCCEEDED");
      assert.equal(job.progress.documentsCreated, "1");
      assert.deepEqual(job.itemErrors, []);
    },
    forbidden: "every role has jobs.read",
    badInput: { request: at(`/v1/jobs/${BLANK}`), field: "job_id" },
    notFound: at(`/v1/jobs/${UNKNOWN_ID}`),
  },
  {
    route: "GET /v1/jobs",
    sample: at("/v1/jobs"),
    async success(api) {
      const jobs = ok(await api.get(`/v1/jobs?collection=${CATS}&state=JOB_STATE_SUCCEEDED`), "list jobs").jobs as any[];
      assert.deepEqual(
        jobs.map((j) => j.jobId),
        [fx.jobId],
      );
    },
    forbidden: "every role has jobs.read",
    badInput: { request: at("/v1/jobs?state=JOB_STATE_DONE"), field: "state" },
    notFound: "lists jobs; addresses none by id",
  },
  {
    route: "POST /v1/jobs/{job_id}:cancel",
    sample: at(`/v1/jobs/${UNKNOWN_ID}:cancel`, {}),
    async success(api) {
      const job = await startFilesJob(api, "rest-cancel", "bees.md", "Bees communicate by dancing in the hive.");
      const cancelled = ok(await api.post(`/v1/jobs/${job.jobId}:cancel`, {}), "cancel").job;
      assert.equal(cancelled.jobId, job.jobId);
      // The small job may have finished before the cancel arrived; cancelling a finished job changes nothing.
      assert.ok(["JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED", "JOB_STATE_SUCCEEDED"].includes(cancelled.state), cancelled.state);
      const end = await finishedJob(api, job.jobId);
      assert.ok(["JOB_STATE_CANCELLED", "JOB_STATE_SUCCEEDED"].includes(end.state), end.state);
      if (cancelled.state !== "JOB_STATE_SUCCEEDED") assert.equal(end.state, "JOB_STATE_CANCELLED");
    },
    forbidden: { as: "reader" },
    badInput: { request: at(`/v1/jobs/${BLANK}:cancel`, {}), field: "job_id" },
    notFound: at(`/v1/jobs/${UNKNOWN_ID}:cancel`, {}),
  },
  {
    route: "GET /v1/jobs/{job_id}:watch",
    streaming: true,
    sample: at(`/v1/jobs/${UNKNOWN_ID}:watch`),
    async success(api) {
      // The job has ended, so the stream is its snapshot and then the end.
      for (const [format, messages] of Object.entries(await bothStreamFormats(api, "GET", at(`/v1/jobs/${fx.jobId}:watch`), "watch job"))) {
        assert.equal(messages[0].eventType, "JOB_EVENT_TYPE_SNAPSHOT", format);
        assert.equal(messages[0].job.jobId, fx.jobId, format);
        assert.equal(messages.at(-1).job.state, "JOB_STATE_SUCCEEDED", format);
      }
    },
    forbidden: "every role has jobs.read",
    badInput: { request: at(`/v1/jobs/${BLANK}:watch`), field: "job_id" },
    notFound: at(`/v1/jobs/${UNKNOWN_ID}:watch`),
  },

  // NotificationsService
  {
    route: "POST /v1/subscriptions",
    sample: at("/v1/subscriptions", { url: "https://example.test/hook" }),
    async success(api) {
      const body = ok(await api.post("/v1/subscriptions", { url: fx.receiverUrl, eventTypes: ["document.deleted"], description: "rest test" }), "subscribe");
      assert.equal(body.subscription.url, fx.receiverUrl);
      assert.deepEqual(body.subscription.eventTypes, ["document.deleted"]);
      assert.equal(body.subscription.state, "SUBSCRIPTION_STATE_ACTIVE");
      assert.ok(body.secret.length >= 16, "a signing secret is generated");
    },
    forbidden: { as: "reader" },
    badInput: { request: at("/v1/subscriptions", { url: "ftp://example.test/hook" }), field: "url" },
    notFound: "creates a subscription; addresses none by id",
  },
  {
    route: "GET /v1/subscriptions/{subscription_id}",
    sample: at(`/v1/subscriptions/${UNKNOWN_ID}`),
    async success(api) {
      const sub = ok(await api.get(`/v1/subscriptions/${fx.subscriptionId}`), "get subscription").subscription;
      assert.equal(sub.subscriptionId, fx.subscriptionId);
      assert.equal(sub.url, fx.receiverUrl);
      assert.equal(sub.tenantId, "default");
    },
    forbidden: { as: "reader" },
    badInput: { request: at(`/v1/subscriptions/${BLANK}`), field: "subscription_id" },
    notFound: at(`/v1/subscriptions/${UNKNOWN_ID}`),
  },
  {
    route: "GET /v1/subscriptions",
    sample: at("/v1/subscriptions"),
    async success(api) {
      const subs = ok(await api.get("/v1/subscriptions?state=SUBSCRIPTION_STATE_ACTIVE"), "list subscriptions").subscriptions as any[];
      assert.ok(subs.some((s) => s.subscriptionId === fx.subscriptionId), JSON.stringify(subs));
    },
    forbidden: { as: "reader" },
    badInput: { request: at("/v1/subscriptions?state=SUBSCRIPTION_STATE_SLEEPING"), field: "state" },
    notFound: "lists subscriptions; addresses none by id",
  },
  {
    route: "POST /v1/subscriptions/{subscription_id}:enable",
    sample: at(`/v1/subscriptions/${UNKNOWN_ID}:enable`, {}),
    async success(api) {
      const sub = ok(await api.post(`/v1/subscriptions/${fx.subscriptionId}:enable`, {}), "enable").subscription;
      assert.equal(sub.subscriptionId, fx.subscriptionId);
      assert.equal(sub.state, "SUBSCRIPTION_STATE_ACTIVE");
      assert.equal(sub.consecutiveFailures, 0);
    },
    forbidden: { as: "reader" },
    badInput: { request: at(`/v1/subscriptions/${BLANK}:enable`, {}), field: "subscription_id" },
    notFound: at(`/v1/subscriptions/${UNKNOWN_ID}:enable`, {}),
  },
  {
    route: "DELETE /v1/subscriptions/{subscription_id}",
    sample: at(`/v1/subscriptions/${UNKNOWN_ID}`),
    async success(api) {
      const id = ok(await api.post("/v1/subscriptions", { url: fx.receiverUrl, description: "to delete" }), "subscribe").subscription.subscriptionId;
      assert.deepEqual(ok(await api.delete(`/v1/subscriptions/${id}`), "unsubscribe"), {});
      expectError(await api.get(`/v1/subscriptions/${id}`), 404, "NOT_FOUND", "the deleted subscription");
    },
    forbidden: { as: "reader" },
    badInput: { request: at(`/v1/subscriptions/${BLANK}`), field: "subscription_id" },
    notFound: at(`/v1/subscriptions/${UNKNOWN_ID}`),
  },
  {
    route: "GET /v1/subscriptions/{subscription_id}/deliveries",
    sample: at(`/v1/subscriptions/${UNKNOWN_ID}/deliveries`),
    async success(api) {
      // The fixture job's "ingestion.job.finished" went to the loopback receiver.
      const deliveries = await pollUntil(
        "a delivered ingestion.job.finished",
        async () => ok(await api.get(`/v1/subscriptions/${fx.subscriptionId}/deliveries`), "deliveries").deliveries as any[],
        (list) => list.some((d) => d.eventType === "ingestion.job.finished" && d.status === "DELIVERY_STATUS_SUCCEEDED"),
      );
      const delivery = deliveries.find((d) => d.eventType === "ingestion.job.finished");
      assert.equal(delivery.subscriptionId, fx.subscriptionId);
      assert.equal(delivery.httpStatus, 204);
      assert.ok(fx.webhookHits.some((h) => h.body.includes(fx.jobId)), "the receiver got the job's event");
    },
    forbidden: { as: "reader" },
    badInput: { request: at(`/v1/subscriptions/${BLANK}/deliveries`), field: "subscription_id" },
    notFound: at(`/v1/subscriptions/${UNKNOWN_ID}/deliveries`),
  },

  // RetrievalService
  {
    route: "POST /v1/collections/{collection}/points:upsert",
    sample: at("/v1/collections/rest-points/points:upsert", { points: [] }),
    async success(api) {
      const points = [
        { chunkId: "apple-1", documentId: "fruit-a", vector: [1, 0, 0], text: "Red apples are crisp." },
        { chunkId: "pear-1", documentId: "fruit-b", vector: [0, 1, 0], text: "Green pears are soft." },
      ];
      const body = ok(await api.post("/v1/collections/rest-points/points:upsert", { points }), "upsert");
      assert.equal(body.upsertedCount, 2);
      const collection = ok(await api.get("/v1/collections/rest-points"), "the collection exists now").collection;
      assert.equal(collection.pointCount, "2");
      assert.equal(collection.dimensions, 3);
    },
    forbidden: { as: "reader" },
    badInput: { request: at("/v1/collections/rest-points/points:upsert", { points: [] }), field: "points" },
    notFound: "creates the collection when it is missing (documented)",
  },
  {
    route: "POST /v1/collections/{collection}/points:delete",
    sample: at("/v1/collections/rest-prune/points:delete", { documentIds: ["x"] }),
    async success(api) {
      const points = [{ chunkId: "c-1", documentId: "doomed", vector: [0, 0, 1], text: "Soon gone." }];
      ok(await api.post("/v1/collections/rest-prune/points:upsert", { points }), "upsert");
      assert.equal(ok(await api.post("/v1/collections/rest-prune/points:delete", { documentIds: ["doomed"] }), "delete").deletedCount, "1");
      assert.equal(ok(await api.get("/v1/collections/rest-prune"), "after").collection.pointCount, "0");
    },
    forbidden: { as: "reader" },
    badInput: { request: at("/v1/collections/rest-prune/points:delete", {}), field: "document_ids" },
    notFound: "deleting from a missing collection removes nothing and succeeds (documented)",
  },
  {
    route: "POST /v1/collections/{collection}:search",
    sample: at(`/v1/collections/${CATS}:search`, { query: "x" }),
    async success(api) {
      const body = ok(await api.post(`/v1/collections/${CATS}:search`, { query: "how long do cats sleep", topK: 3 }), "search");
      assert.ok(body.hits.length >= 1);
      assert.equal(body.hits[0].rank, 1);
      assert.equal(body.hits[0].point.documentId, fx.documentId);
      assert.match(body.hits[0].point.text, /sixteen hours/);
    },
    forbidden: "every role has collections.read",
    badInput: { request: at(`/v1/collections/${CATS}:search`, {}), field: "query" },
    notFound: "a missing collection searches as an empty one (documented)",
  },
  {
    route: "GET /v1/collections/{collection}",
    sample: at(`/v1/collections/${CATS}`),
    async success(api) {
      const collection = ok(await api.get(`/v1/collections/${CATS}`), "get collection").collection;
      assert.equal(collection.name, CATS);
      assert.equal(collection.documentCount, "1");
      assert.ok(Number(collection.pointCount) >= 1, JSON.stringify(collection));
      assert.ok(collection.dimensions > 0);
    },
    forbidden: "every role has collections.read",
    badInput: { request: at("/v1/collections/Not%20A%20Name"), field: "collection" },
    notFound: at("/v1/collections/no-such-collection"),
  },
  {
    route: "GET /v1/collections",
    sample: at("/v1/collections"),
    async success(api) {
      const names = (ok(await api.get("/v1/collections"), "list collections").collections as any[]).map((c) => c.name);
      assert.ok(names.includes(CATS), JSON.stringify(names));
      assert.deepEqual(names, [...names].sort(), "by name ascending");
    },
    forbidden: "every role has collections.read",
    badInput: { request: at("/v1/collections?page_size=-1"), field: "page_size" },
    notFound: "lists collections; addresses none by id",
  },

  // QueryService
  {
    route: "POST /v1/query:ask",
    sample: at("/v1/query:ask", { question: "x" }),
    async success(api) {
      const body = ok(await api.post("/v1/query:ask", { question: CATS_QUESTION, collection: CATS }), "ask");
      assert.equal(body.answered, true);
      assert.match(body.answer, /sixteen hours/);
      assert.equal(body.sources[0].documentId, fx.documentId);
      assert.equal(body.citations[0].documentId, fx.documentId);
      assert.equal(body.collection, CATS);
    },
    forbidden: "every role has query.ask",
    badInput: { request: at("/v1/query:ask", { question: "" }), field: "question" },
    notFound: "answers a question; addresses nothing by id",
  },
  {
    route: "POST /v1/query:askStream",
    streaming: true,
    sample: at("/v1/query:askStream", { question: "x" }),
    async success(api) {
      const req = at("/v1/query:askStream", { question: CATS_QUESTION, collection: CATS, options: { bypassCache: true } });
      for (const [format, messages] of Object.entries(await bothStreamFormats(api, "POST", req, "ask stream"))) {
        assert.equal(messages[0].sources?.sources[0]?.documentId, fx.documentId, `${format}: sources come first`);
        assert.match(joined(messages, "answerDelta"), /sixteen hours/, format);
        assert.ok(messages.some((m) => m.citation?.documentId === fx.documentId), `${format}: a citation`);
        assert.equal(messages.at(-1).done?.answered, true, `${format}: ends with done`);
      }
    },
    forbidden: "every role has query.ask",
    badInput: { request: at("/v1/query:askStream", { question: CATS_QUESTION, topK: 51 }), field: "top_k" },
    notFound: "answers a question; addresses nothing by id",
  },
  {
    route: "POST /v1/asks",
    sample: at("/v1/asks", { question: "x" }),
    async success(api) {
      const body = ok(await api.post("/v1/asks", { question: CATS_QUESTION, collection: CATS }), "submit ask");
      assert.ok(body.askId);
      assert.equal(body.state, "ASK_STATE_PENDING");
      assert.ok(body.createTime);
    },
    forbidden: "every role has query.ask",
    badInput: { request: at("/v1/asks", { question: CATS_QUESTION, options: { maxTokens: -1 } }), field: "options.max_tokens" },
    notFound: "submits a question; addresses nothing by id",
  },
  {
    route: "GET /v1/asks/{ask_id}",
    sample: at(`/v1/asks/${UNKNOWN_ID}`),
    async success(api) {
      const { askId } = ok(await api.post("/v1/asks", { question: "Do cats purr when content?", collection: CATS }), "submit ask");
      const done = await pollUntil(
        `ask ${askId}`,
        async () => ok(await api.get(`/v1/asks/${askId}`), "get ask result"),
        (b) => b.state === "ASK_STATE_SUCCEEDED" || b.state === "ASK_STATE_FAILED",
      );
      assert.equal(done.state, "ASK_STATE_SUCCEEDED", JSON.stringify(done));
      assert.equal(done.question, "Do cats purr when content?");
      assert.equal(done.result.answered, true);
      assert.match(done.result.answer, /purr/);
    },
    forbidden: "every role has query.ask",
    badInput: { request: at(`/v1/asks/${BLANK}`), field: "ask_id" },
    notFound: at(`/v1/asks/${UNKNOWN_ID}`),
  },
];

// ---------------------------------------------------------------------------------------------------------
// What the table is checked against.

interface Binding {
  route: string;
  verb: Verb;
  rpcPath: string;
  streaming: boolean;
}

const BINDINGS: Binding[] = httpBindings(loadRegistry(["gen/rag.binpb"])).map((b) => ({
  route: `${b.verb} ${b.template}`,
  verb: b.verb as Verb,
  rpcPath: `/${b.service.typeName}/${b.method.name}`,
  streaming: b.method.methodKind === "server_streaming",
}));
const BINDING_BY_ROUTE = new Map(BINDINGS.map((b) => [b.route, b]));

const ROLE_OF: Record<Exclude<Caller, "operator">, (typeof ROLE_NAMES)[number]> = { reader: "READER", editor: "EDITOR", admin: "ADMIN" };

function permissionsOf(caller: Caller): string[] {
  return caller === "operator" ? permissionsOfRoles(["ADMIN"], [OPERATOR_PERMISSION]) : permissionsOfRoles([ROLE_OF[caller]]);
}

/** The least-privileged caller holding `permission`; undefined for a public route. */
function holderOf(permission: string): Caller | undefined {
  if (permission === PUBLIC) return undefined;
  if (permission === AUTHENTICATED) return "reader";
  const caller = (["reader", "editor", "admin", "operator"] as const).find((c) => permissionsOf(c).includes(permission));
  if (!caller) throw new Error(`no caller holds "${permission}"`);
  return caller;
}

/** Fills the placeholders that name fixtures created at run time ({reader}, {editor}, {editorKey}). */
function resolve(req: Req): Req {
  const fill = (s: string) =>
    s.replaceAll("{reader}", fx.userIds.reader).replaceAll("{editor}", fx.userIds.editor).replaceAll("{editorKey}", fx.editorKeyId);
  return { path: fill(req.path), body: req.body === undefined ? undefined : JSON.parse(fill(JSON.stringify(req.body))) };
}

function permissionOf(c: RouteCase): string {
  const binding = BINDING_BY_ROUTE.get(c.route);
  if (!binding) throw new Error(`${c.route} is not a REST binding`);
  return requiredPermission(binding.rpcPath);
}

function verbOf(c: RouteCase): Verb {
  return c.route.split(" ")[0] as Verb;
}

// ---------------------------------------------------------------------------------------------------------
// Fixtures.

async function startReceiver(): Promise<{ server: Server; url: string; hits: Fixtures["webhookHits"] }> {
  const hits: Fixtures["webhookHits"] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      hits.push({ path: req.url ?? "", body: Buffer.concat(chunks).toString("utf8") });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, hits };
}

before(async () => {
  const webhook = await startReceiver();
  receiver = webhook.server;
  stack = await startTestStack({
    IDENTITY_BOOTSTRAP_ADMIN_KEY: BOOTSTRAP_KEY,
    GATEWAY_RATE_LIMITS: JSON.stringify({ roles: { READER: NO_LIMITS, EDITOR: NO_LIMITS, ADMIN: NO_LIMITS }, tenant: NO_LIMITS }),
    NOTIFICATIONS_ALLOW_PRIVATE: "true",
  });
  const gateway = new RestClient(stack.stack.gatewayUrl!);
  const operator = gateway.as({ apiKey: BOOTSTRAP_KEY });
  fx = { gateway, clients: { operator } } as Fixtures;

  const userIds = {
    reader: await newUser("reader@example.test", "ROLE_READER"),
    editor: await newUser("editor@example.test", "ROLE_EDITOR"),
    admin: await newUser("admin@example.test", "ROLE_ADMIN"),
  };
  const readerKey = await newKey(operator, userIds.reader, "ROLE_READER", "reader");
  const editorKey = await newKey(operator, userIds.editor, "ROLE_EDITOR", "editor");
  const adminKey = await newKey(operator, userIds.admin, "ROLE_ADMIN", "admin");
  fx.clients = {
    operator,
    reader: gateway.as({ apiKey: readerKey.secret }),
    editor: gateway.as({ apiKey: editorKey.secret }),
    admin: gateway.as({ apiKey: adminKey.secret }),
  };
  Object.assign(fx, { readerKey: readerKey.secret, userIds, editorKeyId: editorKey.id, receiverUrl: webhook.url, webhookHits: webhook.hits });

  // Subscribed before the job, so the job's events are delivered to it.
  fx.subscriptionId = ok(await operator.post("/v1/subscriptions", { url: webhook.url, description: "every event" }), "subscribe").subscription.subscriptionId;

  const job = await startFilesJob(operator, CATS, "cats.md", CATS_TEXT);
  const done = await finishedJob(operator, job.jobId);
  assert.equal(done.state, "JOB_STATE_SUCCEEDED", `fixture job: ${JSON.stringify(done)}\n${stack.recentLog()}`);
  fx.jobId = job.jobId;
  const docs = ok(await operator.get(`/v1/documents?collection=${CATS}`), "fixture documents").documents as any[];
  assert.equal(docs.length, 1);
  fx.documentId = docs[0].documentId;
});

after(async () => {
  await stack?.stop();
  await new Promise((resolve) => receiver?.close(resolve));
});

// ---------------------------------------------------------------------------------------------------------
// The tests.

describe("REST routes: the table", () => {
  test("has exactly one entry per google.api.http binding in gen/rag.binpb", () => {
    const covered = ROUTES.map((c) => c.route);
    assert.equal(new Set(covered).size, covered.length, "an entry is duplicated");
    assert.deepEqual([...covered].sort(), BINDINGS.map((b) => b.route).sort());
  });

  test("marks exactly the server-streaming RPCs as streams", () => {
    assert.deepEqual(
      ROUTES.filter((c) => c.streaming).map((c) => c.route).sort(),
      BINDINGS.filter((b) => b.streaming).map((b) => b.route).sort(),
    );
  });

  test("asks for 403 exactly where some role lacks the permission (mesh/auth/permissions.ts)", () => {
    for (const c of ROUTES) {
      const permission = permissionOf(c);
      if (typeof c.forbidden === "string") {
        // Skipping is only right where every caller is let through.
        const everyone = permission === PUBLIC || permission === AUTHENTICATED || permissionsOf("reader").includes(permission);
        assert.ok(everyone, `${c.route}: skips 403 ("${c.forbidden}") but readers lack "${permission}"`);
        continue;
      }
      const refused = c.forbidden.permission ?? permission;
      assert.ok(!permissionsOf(c.forbidden.as).includes(refused), `${c.route}: ${c.forbidden.as} holds "${refused}"`);
      if (c.forbidden.permission) assert.ok(permissionsOf(c.forbidden.as).includes(permission), `${c.route}: ${c.forbidden.as} is refused at the edge already`);
      // Tenant administrators are not operators: the operator permission is refused to an admin, not just a reader.
      if (permission === OPERATOR_PERMISSION) assert.equal(c.forbidden.as, "admin", `${c.route}: use a tenant admin`);
    }
  });

  test("gives public routes, and only them, a credential check of their own", () => {
    for (const c of ROUTES) {
      if (c.wrongCredential) assert.equal(permissionOf(c), PUBLIC, `${c.route} is not public`);
    }
  });
});

describe("REST routes: credentials on public routes", () => {
  // identity.proto: an empty IssueTokenRequest.api_key "means the API key presented as the request's own
  // credential (metadata)"; the gateway forwards an API key sent as X-API-Key or a bearer to identity.
  test("POST /v1/tokens exchanges the API key sent as the request's own credential", async () => {
    for (const credential of [{ apiKey: fx.readerKey }, { bearer: fx.readerKey }]) {
      const body = ok(await fx.gateway.as(credential).post("/v1/tokens", {}), `token for ${Object.keys(credential)[0]}`);
      assert.equal(body.tokenType, "Bearer");
    }
  });
});

for (const c of ROUTES) {
  const verb = verbOf(c);
  describe(c.route, () => {
    const permission = permissionOf(c);
    const holder = holderOf(permission);

    test(`succeeds for ${holder ?? "anyone, without credentials"} (${permission})`, async () => {
      await c.success(holder ? fx.clients[holder] : fx.gateway);
    });

    if (permission === PUBLIC) {
      if (c.wrongCredential) {
        const wrong = c.wrongCredential;
        test("401 UNAUTHENTICATED for a wrong API key", async () => {
          expectError(await send(fx.gateway, verb, wrong), 401, "UNAUTHENTICATED", "wrong key");
        });
      } else {
        test("needs no credentials, and ignores a wrong one", async () => {
          ok(await send(fx.gateway.as({ apiKey: WRONG_KEY }), verb, c.sample), "with a wrong API key");
        });
      }
    } else {
      test("401 UNAUTHENTICATED without credentials, or with a wrong API key", async () => {
        const missing = expectError(await send(fx.gateway, verb, c.sample), 401, "UNAUTHENTICATED", "no credentials");
        assert.match(missing.message, /credentials/);
        expectError(await send(fx.gateway.as({ apiKey: WRONG_KEY }), verb, c.sample), 401, "UNAUTHENTICATED", "wrong key in X-API-Key");
        expectError(await send(fx.gateway.as({ bearer: WRONG_KEY }), verb, c.sample), 401, "UNAUTHENTICATED", "wrong key as a bearer");
        expectError(await send(fx.gateway.as({ bearer: "not.a.token" }), verb, c.sample), 401, "UNAUTHENTICATED", "a forged access token");
      });
    }

    const forbidden = c.forbidden;
    // A string is why the case does not apply to this route (checked above against the permission table).
    if (typeof forbidden !== "string") {
      const refused = forbidden.permission ?? permission;
      test(`403 PERMISSION_DENIED for ${forbidden.as}, naming "${refused}"`, async () => {
        const err = expectError(await send(fx.clients[forbidden.as], verb, resolve(forbidden.request ?? c.sample)), 403, "PERMISSION_DENIED", forbidden.as);
        assert.ok(err.message.includes(`"${refused}"`), `the message names the permission: ${err.message}`);
      });
    }

    const bad = c.badInput;
    if (typeof bad !== "string") {
      test(`400 INVALID_ARGUMENT naming ${bad.field}`, async () => {
        const res: RestResponse = await send(fx.clients[holder ?? "reader"], verb, resolve(bad.request));
        const err = expectError(res, 400, "INVALID_ARGUMENT", `bad ${bad.field}`);
        assert.equal(err.details[0]?.field, bad.field, JSON.stringify(err));
        assert.ok(err.message.includes(bad.field), `the message names ${bad.field}: ${err.message}`);
      });
    }

    const missing = c.notFound;
    if (typeof missing !== "string") {
      test("404 NOT_FOUND for an unknown id", async () => {
        const err = expectError(await send(fx.clients[holder ?? "reader"], verb, missing), 404, "NOT_FOUND", "unknown id");
        assert.match(err.message, /not found/);
      });
    }
  });
}
