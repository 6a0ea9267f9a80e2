/**
 * The product over REST, the way the README walks a new user through it: the bootstrap admin key, a
 * reader key made with the API, ingestion and a streamed answer, a refused write, 429s, a signed webhook
 * when ingestion finishes; and no tenant reaching another's documents through REST or gRPC.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHmac, timingSafeEqual } from "node:crypto";
import { execFile } from "node:child_process";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { AddressInfo } from "node:net";
import { status } from "@grpc/grpc-js";
import { CreateDocumentRequest, DocumentsServiceClient, ListDocumentsRequest } from "#gen/rag/v1/documents.js";
import { IdentityServiceClient } from "#gen/rag/v1/identity.js";
import { AskRequest, QueryServiceClient } from "#gen/rag/v1/query.js";
import { RetrievalServiceClient, SearchRequest } from "#gen/rag/v1/retrieval.js";
import type { GeneratedClient } from "#mesh/client.js";
import type { AnyServiceDefinition } from "#mesh/handlers.js";
import type { ServiceName } from "#mesh/catalogue.js";
import { eventually, rejection } from "#testing/grpc.js";
import { startTestStack, type TestStack } from "#testing/stack.js";
import { testRuntime } from "#testing/runtime.js";

const ADMIN_KEY = "rag_0123456789ab_bootstrapSecretForTheTests_0123";
const HIGH = { burst: 10_000, perMinute: 600_000, perHour: 10_000_000 };
// Editors get a small bucket so the 429 test is quick; everyone else is never limited here.
const LIMITS = { roles: { READER: HIGH, ADMIN: HIGH, EDITOR: { burst: 5, perMinute: 6, perHour: 1000 } }, tenant: HIGH };

const HANDBOOK = "# Travel policy\n\nEmployees book trains for trips under 500 km. Flights need a manager's approval.\n\n## Expenses\n\nMeals are refunded up to 40 euros a day.\n";
const QUESTION = "Up to how much are meals refunded per day?";

let env: TestStack;
let base = "";
let receiver: Server;
let hookUrl = "";
const received: { headers: IncomingHttpHeaders; body: string }[] = [];

interface Reply {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

async function api(method: string, path: string, opts: { key?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.key) headers["x-api-key"] = opts.key;
  if (opts.body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(base + path, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  const text = await res.text();
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers, body, text };
}

function ok(reply: Reply, what: string): any {
  assert.ok(reply.status >= 200 && reply.status < 300, `${what}: HTTP ${reply.status} ${reply.text}\n--- stack log ---\n${env.recentLog()}`);
  return reply.body;
}

/** A new user with a key of `role`, made by the tenant's admin over REST. */
async function userWithKey(adminKey: string, role: "ROLE_READER" | "ROLE_EDITOR" | "ROLE_ADMIN", email: string): Promise<{ userId: string; key: string }> {
  const { user } = ok(await api("POST", "/v1/users", { key: adminKey, body: { email, displayName: email, roles: [role] } }), "create user");
  const created = ok(await api("POST", "/v1/apiKeys", { key: adminKey, body: { name: `${email} key`, role, userId: user.userId } }), "create key");
  assert.match(created.secret, /^rag_[0-9a-f]{12}_/);
  return { userId: user.userId, key: created.secret };
}

/** Ingests one markdown file over REST and waits for the job to end. */
async function ingest(key: string, collection: string, filename: string, text: string): Promise<any> {
  const { job } = ok(
    await api("POST", "/v1/jobs", { key, body: { collection, source: { files: { files: [{ filename, content: Buffer.from(text).toString("base64") }] } } } }),
    "start job",
  );
  let current = job;
  await eventually(async () => {
    current = ok(await api("GET", `/v1/jobs/${job.jobId}`, { key }), "get job").job;
    return current.state === "JOB_STATE_SUCCEEDED" || current.state === "JOB_STATE_FAILED";
  }, `job ${job.jobId} to end`, 60_000);
  assert.equal(current.state, "JOB_STATE_SUCCEEDED", JSON.stringify(current));
  return current;
}

/** The events of an SSE response, as parsed JSON (`event: end` closes the list). */
function sseEvents(text: string): { event: string; data: any }[] {
  return text
    .split("\n\n")
    .filter((block) => block.trim() !== "")
    .map((block) => {
      const lines = block.split("\n");
      const event = lines.find((l) => l.startsWith("event: "))?.slice(7) ?? "message";
      const data = lines.filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
      return { event, data: JSON.parse(data) };
    });
}

/** A gRPC client presenting the access token an API key is exchanged for. */
async function grpcAs<D extends AnyServiceDefinition>(ctor: GeneratedClient<D>, name: ServiceName, apiKey: string) {
  const identity = testRuntime({ discovery: env.discovery }).connect(IdentityServiceClient, "identity", { auth: "none" });
  const { accessToken } = await identity.issueToken({ apiKey, ttlSeconds: 600 });
  identity.close();
  return testRuntime({ discovery: env.discovery }).connect(ctor, name, { auth: { bearer: accessToken } });
}

before(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
  env = await startTestStack({ IDENTITY_BOOTSTRAP_ADMIN_KEY: ADMIN_KEY, GATEWAY_RATE_LIMITS: JSON.stringify(LIMITS), NOTIFICATIONS_ALLOW_PRIVATE: "true" });
  base = env.stack.gatewayUrl!;
});

after(async () => {
  await env?.stop();
  receiver?.close();
});

describe("REST through the gateway", () => {
  test("the README walk-through: reader key by curl, ingest, SSE answer, refused write, signed webhook, history", async () => {
    const reader = await userWithKey(ADMIN_KEY, "ROLE_READER", "reader@walkthrough.example");
    const { secret: hookSecret, subscription } = ok(
      await api("POST", "/v1/subscriptions", { key: ADMIN_KEY, body: { url: hookUrl, eventTypes: ["ingestion.job.finished", "document.deleted"] } }),
      "subscribe",
    );
    assert.equal(subscription.url, hookUrl);

    const job = await ingest(ADMIN_KEY, "travel", "travel.md", HANDBOOK);

    // The answer streams as Server-Sent Events: sources, answer deltas, citations, timings, done, end.
    const res = await fetch(`${base}/v1/query:askStream`, {
      method: "POST",
      headers: { "x-api-key": reader.key, "content-type": "application/json" },
      body: JSON.stringify({ question: QUESTION, collection: "travel" }),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
    const events = sseEvents(await res.text());
    assert.equal(events.at(-1)?.event, "end");
    const answer = events.map((e) => e.data.answerDelta ?? "").join("");
    assert.match(answer, /40 euros/);
    assert.ok(events.some((e) => e.data.citation?.documentId), "the answer cites its document");
    assert.equal(events.find((e) => e.data.done)?.data.done.answered, true);

    // The reader may read and ask, not write.
    const refused = await api("POST", "/v1/documents", { key: reader.key, body: { title: "x", text: "y", collection: "travel" } });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.status, "PERMISSION_DENIED");
    assert.match(refused.body.message, /documents\.write/);
    const deleteRefused = await api("DELETE", `/v1/documents/${events.find((e) => e.data.citation)!.data.citation.documentId}`, { key: reader.key });
    assert.equal(deleteRefused.status, 403);

    // A signed delivery for the finished job, verifiable as the notifications README says.
    await eventually(() => received.some((r) => JSON.parse(r.body).type === "ingestion.job.finished"), "the ingestion.job.finished webhook", 30_000);
    const delivery = received.find((r) => JSON.parse(r.body).type === "ingestion.job.finished")!;
    const { "webhook-id": id, "webhook-timestamp": ts, "webhook-signature": signature } = delivery.headers as Record<string, string>;
    assert.ok(Math.abs(Date.now() / 1000 - Number(ts)) < 300, "fresh timestamp");
    const expected = createHmac("sha256", hookSecret).update(`${id}.${ts}.${delivery.body}`).digest();
    const given = Buffer.from(signature.replace(/^v1,/, ""), "base64");
    assert.ok(given.length === expected.length && timingSafeEqual(given, expected), "signature verifies");
    const payload = JSON.parse(delivery.body);
    assert.equal(payload.data.job_id, job.jobId);
    assert.equal(payload.data.state, "succeeded");

    // An ask submitted to run in the background, and its result fetched by id.
    const LATER = "Which trips need a manager's approval?";
    const { askId } = ok(await api("POST", "/v1/asks", { key: reader.key, body: { question: LATER, collection: "travel" } }), "submit ask");
    let result: any;
    await eventually(async () => {
      result = ok(await api("GET", `/v1/asks/${askId}`, { key: reader.key }), "ask result");
      return result.state === "ASK_STATE_SUCCEEDED" || result.state === "ASK_STATE_FAILED";
    }, "the submitted ask to finish");
    assert.match(result.result.answer, /Flights/);

    // Query wrote every ask to the reader's own history; the admin's history does not have them.
    await eventually(async () => {
      const { entries } = ok(await api("GET", "/v1/history", { key: reader.key }), "history");
      return [QUESTION, LATER].every((q) => entries.some((e: any) => e.question === q));
    }, "the history entries");
    const adminHistory = ok(await api("GET", "/v1/history", { key: ADMIN_KEY }), "admin history");
    assert.ok(!adminHistory.entries.some((e: any) => e.question === QUESTION));
  });

  test("the same ask over REST and over gRPC gives the same answer", async () => {
    await ingest(ADMIN_KEY, "travel-same", "travel.md", HANDBOOK);
    const rest = ok(await api("POST", "/v1/query:ask", { key: ADMIN_KEY, body: { question: QUESTION, collection: "travel-same", options: { bypassCache: true } } }), "ask");
    const query = await grpcAs(QueryServiceClient, "query", ADMIN_KEY);
    const grpc = await query.ask(AskRequest.fromPartial({ question: QUESTION, collection: "travel-same", options: { bypassCache: true } }));
    query.close();
    assert.equal(rest.answer, grpc.answer);
    assert.deepEqual(rest.citations.map((c: any) => c.chunkId), grpc.citations.map((c) => c.chunkId));
    assert.deepEqual(rest.sources.map((s: any) => s.chunkId), grpc.sources.map((s) => s.chunkId));
    assert.match(rest.answer, /40 euros/);
  });

  test("tenant B cannot list, read, search, ask over or delete tenant A's documents, through REST or gRPC", async () => {
    const created = ok(await api("POST", "/v1/tenants", { key: ADMIN_KEY, body: { tenantId: "globex", displayName: "Globex", adminEmail: "admin@globex.example" } }), "create tenant");
    const bKey: string = created.adminApiKeySecret;
    await ingest(ADMIN_KEY, "secrets", "plan.md", "# Plan\n\nThe launch code name is Bluebird.\n");
    const aDocs = ok(await api("GET", "/v1/documents?collection=secrets", { key: ADMIN_KEY }), "A lists").documents;
    assert.equal(aDocs.length, 1);
    const aDoc = aDocs[0].documentId;

    const bList = ok(await api("GET", "/v1/documents?collection=secrets", { key: bKey }), "B lists");
    assert.deepEqual(bList.documents, []);
    assert.equal((await api("GET", `/v1/documents/${aDoc}`, { key: bKey })).status, 404);
    assert.equal((await api("GET", `/v1/documents/${aDoc}/chunks`, { key: bKey })).status, 404);
    const search = await api("POST", "/v1/collections/secrets:search", { key: bKey, body: { query: "launch code name", topK: 5 } });
    assert.ok(search.status === 404 || (search.status === 200 && search.body.hits.length === 0), `B's search sees nothing: ${search.text}`);
    const ask = ok(await api("POST", "/v1/query:ask", { key: bKey, body: { question: "What is the launch code name?", collection: "secrets" } }), "B asks");
    assert.doesNotMatch(ask.answer, /Bluebird/);
    assert.deepEqual(ask.sources, []);
    assert.equal((await api("DELETE", `/v1/documents/${aDoc}`, { key: bKey })).status, 404);

    const bDocs = await grpcAs(DocumentsServiceClient, "documents", bKey);
    const bRetrieval = await grpcAs(RetrievalServiceClient, "retrieval", bKey);
    assert.equal((await rejection(bDocs.getDocument({ documentId: aDoc, includeText: false }))).code, status.NOT_FOUND);
    assert.equal((await rejection(bDocs.deleteDocument({ documentId: aDoc }))).code, status.NOT_FOUND);
    assert.deepEqual((await bDocs.listDocuments(ListDocumentsRequest.fromPartial({ collection: "secrets" }))).documents, []);
    const hits = await bRetrieval.search(SearchRequest.fromPartial({ collection: "secrets", query: "launch code name", topK: 5 })).then(
      (r) => r.hits,
      (err) => (err.code === status.NOT_FOUND ? [] : Promise.reject(err)),
    );
    assert.deepEqual(hits, []);
    bDocs.close();
    bRetrieval.close();

    // A's document is untouched, and A can delete it: a document.deleted event follows.
    ok(await api("GET", `/v1/documents/${aDoc}`, { key: ADMIN_KEY }), "A reads");
    ok(await api("DELETE", `/v1/documents/${aDoc}`, { key: ADMIN_KEY }), "A deletes");
    await eventually(() => received.some((r) => JSON.parse(r.body).type === "document.deleted" && JSON.parse(r.body).data.document_id === aDoc), "the document.deleted webhook", 30_000).catch((err) => assert.fail(`${err.message}\n${env.recentLog()}`));
  });

  test("calling a service directly needs a token: none is UNAUTHENTICATED, a reader's write is PERMISSION_DENIED", async () => {
    const anonymous = testRuntime({ discovery: env.discovery }).connect(DocumentsServiceClient, "documents", { auth: "none" });
    const none = await rejection(anonymous.listDocuments(ListDocumentsRequest.fromPartial({})));
    assert.equal(none.code, status.UNAUTHENTICATED);
    anonymous.close();
    const reader = await userWithKey(ADMIN_KEY, "ROLE_READER", "reader@grpc.example");
    const docs = await grpcAs(DocumentsServiceClient, "documents", reader.key);
    assert.ok(Array.isArray((await docs.listDocuments(ListDocumentsRequest.fromPartial({}))).documents));
    const denied = await rejection(docs.createDocument(CreateDocumentRequest.fromPartial({ title: "x", text: "y", collection: "c" })));
    assert.equal(denied.code, status.PERMISSION_DENIED);
    assert.match(denied.details, /documents\.write/);
    docs.close();
  });

  test("bin/rag with RAG_API_KEY acts as the key's user: a reader asks, and is refused a write", async () => {
    await ingest(ADMIN_KEY, "travel-cli", "travel.md", HANDBOOK);
    const reader = await userWithKey(ADMIN_KEY, "ROLE_READER", "reader@cli.example");
    const { RAG_INTERNAL_SECRET: _secret, ...withoutSecret } = process.env;
    const rag = (key: string | undefined, ...args: string[]) =>
      promisify(execFile)(fileURLToPath(new URL("../bin/rag", import.meta.url)), args, {
        env: { ...withoutSecret, RAG_ENDPOINTS: env.stack.endpoints.map((e) => `${e.name}=${e.grpcAddress}`).join(","), ...(key ? { RAG_API_KEY: key } : {}) },
      }).then(
        ({ stdout }) => ({ code: 0, out: stdout }),
        (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, out: err.stdout + err.stderr }),
      );
    const asked = await rag(reader.key, "ask", QUESTION, "--collection", "travel-cli");
    assert.equal(asked.code, 0, asked.out);
    assert.match(asked.out, /40 euros/);
    const write = await rag(reader.key, "docs", "create", "--text", "a note", "--collection", "travel-cli");
    assert.notEqual(write.code, 0);
    assert.match(write.out, /PERMISSION_DENIED.*documents\.write/);
    const anonymous = await rag(undefined, "docs", "list");
    assert.notEqual(anonymous.code, 0);
    assert.match(anonymous.out, /set RAG_API_KEY/);
  });

  test("over the limit: 429 with Retry-After and RateLimit headers, per key", async () => {
    const editor = await userWithKey(ADMIN_KEY, "ROLE_EDITOR", "editor@limits.example");
    const replies: Reply[] = [];
    for (let i = 0; i < 12; i++) replies.push(await api("GET", "/v1/documents", { key: editor.key }));
    const first = replies[0]!;
    assert.equal(first.status, 200);
    assert.ok(first.headers.get("ratelimit-limit") && first.headers.get("ratelimit-remaining") && first.headers.get("ratelimit-policy"));
    const limited = replies.find((r) => r.status === 429);
    assert.ok(limited, `some of 12 quick requests exceed a burst of 5: ${replies.map((r) => r.status).join(",")}`);
    assert.equal(limited.body.status, "RESOURCE_EXHAUSTED");
    assert.ok(Number(limited.headers.get("retry-after")) >= 1);
    assert.equal(limited.headers.get("ratelimit-remaining"), "0");
    // Another key of the same tenant has its own bucket.
    assert.equal((await api("GET", "/v1/documents", { key: ADMIN_KEY })).status, 200);
  });
});
