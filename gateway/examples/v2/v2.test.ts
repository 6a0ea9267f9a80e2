import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { declareMethodPermissions } from "#mesh/auth/permissions.js";
import { TokenVerifier, USER_TOKEN_AUDIENCE, USER_TOKEN_ISSUER } from "#mesh/auth/verifier.js";
import { EdgeAuth } from "../../node/edge-policy.js";
import { createGateway, type Gateway } from "../../node/gateway.js";
import { loadRegistry } from "../../node/http-rules.js";
import { openApiDocument } from "../../node/openapi.js";
import { memoryRateLimiter, parseRateLimitConfig } from "../../node/ratelimit/index.js";
import { startFakeUpstream, type FakeUpstream } from "../../node/testdata/fake-upstream.js";
import { request, type Reply } from "../../node/testdata/http-request.js";
import { type Passage } from "./answer.js";
import { announcingDeprecations } from "./deprecation-policy.js";
import { buildV2DescriptorSet } from "./descriptor-set.js";
import { startQueryV2Server, V2_METHOD_PERMISSIONS, type QueryV2Server } from "./query-v2-server.js";

// One gateway serving gen/rag.binpb (rag.v1) and the example's rag.v2 set, behind the production EdgeAuth
// with real ES256 access tokens: rag.v1 routes go to the raw v1 test upstream, rag.v2.QueryService to the
// example v2 server. The tests run in order: the first one runs before the v2 permission is declared.

const V1_SET = fileURLToPath(new URL("../../../gen/rag.binpb", import.meta.url));

const DEPRECATED_AT = new Date("2025-01-01T00:00:00Z");
const SUNSET_AT = new Date("2025-07-01T00:00:00Z");

const PASSAGES: Passage[] = [
  {
    collection: "handbook",
    documentId: "doc-leave",
    chunkId: "doc-leave#0",
    title: "Leave policy",
    text: "Employees get 25 days of paid leave. Unused leave expires in March.",
  },
  {
    collection: "handbook",
    documentId: "doc-travel",
    chunkId: "doc-travel#0",
    title: "Travel",
    text: "Trains are booked through the travel desk. Flights need approval from a manager.",
  },
  { collection: "default", documentId: "doc-wifi", chunkId: "doc-wifi#0", title: "Office", text: "The guest Wi-Fi password changes weekly." },
];

/** A request to the gateway with the caller's token and the accepted media type. */
function call(port: number, method: string, path: string, opts: { token?: string; body?: unknown; accept?: string } = {}): Promise<Reply> {
  const headers: Record<string, string> = {
    ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
    ...(opts.accept ? { accept: opts.accept } : {}),
  };
  return request(port, method, path, { headers, body: opts.body });
}

describe("rag.v2 served beside rag.v1 by one gateway", () => {
  let dir: string;
  let v2Set: string;
  let v1: FakeUpstream;
  let v2: QueryV2Server;
  let gateway: Gateway;
  let port: number;
  let reader: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "gateway-v2-"));
    v2Set = join(dir, "rag-v2.binpb");
    buildV2DescriptorSet(v2Set);

    // Access tokens as identity issues them; every verifier in this process (EdgeAuth, the v2 server) trusts this key.
    const { publicKey, privateKey } = await generateKeyPair("ES256");
    const jwk = { ...(await exportJWK(publicKey)), kid: "test-key", alg: "ES256", use: "sig" };
    const verifier = new TokenVerifier({ keys: async () => [jwk], internalSecret: undefined });
    reader = await new SignJWT({ tid: "tenant-a", roles: ["READER"] })
      .setProtectedHeader({ alg: "ES256", kid: "test-key", typ: "JWT" })
      .setIssuer(USER_TOKEN_ISSUER)
      .setAudience(USER_TOKEN_AUDIENCE)
      .setSubject("user-1")
      .setIssuedAt()
      .setExpirationTime("10m")
      .sign(privateKey);

    v1 = await startFakeUpstream();
    v2 = await startQueryV2Server({ registry: loadRegistry([v2Set]), passages: PASSAGES, verifier });
    const noApiKeys = { issueToken: async () => Promise.reject(new Error("these tests send access tokens, not API keys")) };
    gateway = createGateway({
      descriptorSets: [V1_SET, v2Set],
      upstream: (service) => (service === "rag.v2.QueryService" ? v2.address : service.startsWith("rag.v1.") ? v1.address : undefined),
      policy: announcingDeprecations(new EdgeAuth(noApiKeys, memoryRateLimiter(parseRateLimitConfig(undefined)), { verifier }), {
        "rag.v1.QueryService": { deprecatedAt: DEPRECATED_AT, sunsetAt: SUNSET_AT, successor: "/v2/query:ask" },
      }),
    });
    port = await gateway.listen(0, "127.0.0.1");
  });

  after(async () => {
    await gateway?.close();
    await v2?.stop();
    await v1?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("builds a descriptor set holding rag.v2 and the google/api files it imports", () => {
    const registry = loadRegistry([v2Set]);
    assert.ok(registry.getFile("rag/v2/query.proto"));
    assert.ok(registry.getFile("google/api/annotations.proto"));
    assert.equal(registry.getService("rag.v2.QueryService")?.methods.map((m) => m.name).join(), "Ask");
  });

  it("refuses a v2 RPC whose permission nobody declared, without calling the v2 server", async () => {
    const reply = await call(port, "POST", "/v2/query:ask", { token: reader, body: { questions: ["How many days of leave?"] } });
    assert.equal(reply.status, 500, reply.text);
    assert.equal(reply.json.status, "INTERNAL");
    assert.equal(v2.received.length, 0);
    // What the gateway's main (and the v2 service's) must do at startup; the tests below depend on it.
    declareMethodPermissions(V2_METHOD_PERMISSIONS);
  });

  it("transcodes POST /v2/query:ask to rag.v2.QueryService/Ask with the v2 JSON mapping", async () => {
    const body = { questions: ["How many days of paid leave?", "Who approves flights?", "Where is the cafeteria?"], collection: "handbook", answerFormat: "ANSWER_FORMAT_MARKDOWN" };
    const reply = await call(port, "POST", "/v2/query:ask", { token: reader, body });
    assert.equal(reply.status, 200, reply.text);

    // The request arrived whole: repeated field, enum by name.
    assert.deepEqual(v2.received.at(-1), { questions: body.questions, collection: "handbook", answerFormat: "ANSWER_FORMAT_MARKDOWN" });
    // The response in proto3 JSON: camelCase, nested citation messages, implicit defaults written out.
    assert.deepEqual(reply.json, {
      collection: "handbook",
      answers: [
        {
          question: "How many days of paid leave?",
          text: "Employees get 25 days of paid leave. [^1]\n\n[^1]: Leave policy",
          answered: true,
          citations: [
            {
              marker: 1,
              source: { documentId: "doc-leave", chunkId: "doc-leave#0", title: "Leave policy" },
              quote: { text: "Employees get 25 days of paid leave.", start: 0, end: 36 },
            },
          ],
        },
        {
          question: "Who approves flights?",
          text: "Flights need approval from a manager. [^1]\n\n[^1]: Travel",
          answered: true,
          citations: [
            {
              marker: 1,
              source: { documentId: "doc-travel", chunkId: "doc-travel#0", title: "Travel" },
              quote: { text: "Flights need approval from a manager.", start: 43, end: 80 },
            },
          ],
        },
        { question: "Where is the cafeteria?", text: "", answered: false, citations: [] },
      ],
    });
  });

  it("accepts proto field names and defaults the format and collection", async () => {
    const reply = await call(port, "POST", "/v2/query:ask", { token: reader, body: { questions: ["What is the guest wifi password policy?"], answer_format: "ANSWER_FORMAT_UNSPECIFIED" } });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.headers.deprecation, undefined, "v2 is not deprecated");
    assert.equal(reply.json.collection, "default");
    assert.equal(reply.json.answers[0].text, "The guest Wi-Fi password changes weekly. [1]");
  });

  it("answers a bad v2 request with 400 naming the field", async () => {
    const empty = await call(port, "POST", "/v2/query:ask", { token: reader, body: { questions: [] } });
    assert.equal(empty.status, 400, empty.text);
    assert.equal(empty.json.status, "INVALID_ARGUMENT");
    assert.match(empty.json.message, /^questions: give at least one question/);

    const blank = await call(port, "POST", "/v2/query:ask", { token: reader, body: { questions: ["fine", "  "] } });
    assert.equal(blank.status, 400, blank.text);
    assert.match(blank.json.message, /^questions\[1\]: must not be blank/);

    // A v1-shaped body is not a v2 request: the gateway refuses it before any call.
    const seen = v2.received.length;
    const v1Shaped = await call(port, "POST", "/v2/query:ask", { token: reader, body: { question: "How many days?" } });
    assert.equal(v1Shaped.status, 400, v1Shaped.text);
    assert.match(v1Shaped.json.message, /unknown field "question"/);
    assert.equal(v2.received.length, seen);
  });

  it("still serves rag.v1 on the same gateway, from the v1 upstream", async () => {
    const calls = { v1: v1.metadata.length, v2: v2.received.length };
    const reply = await call(port, "POST", "/v1/query:askStream", { token: reader, body: { question: "is v1 alive" }, accept: "application/x-ndjson" });
    assert.equal(reply.status, 200, reply.text);
    const events = reply.text.trim().split("\n").map((line) => JSON.parse(line).result);
    assert.equal(events.filter((e) => e.answerDelta !== undefined).map((e) => e.answerDelta).join(""), "is v1 alive ");
    assert.equal(v1.metadata.length, calls.v1 + 1);
    assert.equal(v2.received.length, calls.v2);
    // EdgeAuth forwarded the caller's token to v1 as it does to v2.
    assert.equal(v1.metadata.at(-1)!.get("authorization")[0], `Bearer ${reader}`);
    // rag.v1.QueryService is on its way out: its answers say so, and where to go.
    assert.equal(reply.headers.deprecation, "@1735689600");
    assert.equal(reply.headers.sunset, "Tue, 01 Jul 2025 00:00:00 GMT");
    assert.equal(reply.headers.link, '</v2/query:ask>; rel="successor-version"');
  });

  it("keeps /v1 and /v2 apart: same service name, different packages, routes and schemas", async () => {
    const calls = { v1: v1.metadata.length, v2: v2.received.length };
    // /v1/query:ask takes v1's AskRequest, which has no `questions`.
    const v1Ask = await call(port, "POST", "/v1/query:ask", { token: reader, body: { questions: ["How many days?"] } });
    assert.equal(v1Ask.status, 400, v1Ask.text);
    assert.match(v1Ask.json.message, /unknown field "questions"/);
    // v2 has no askStream, and Ask only under POST.
    assert.equal((await call(port, "POST", "/v2/query:askStream", { token: reader, body: { question: "x" } })).status, 404);
    const get = await call(port, "GET", "/v2/query:ask", { token: reader });
    assert.equal(get.status, 405, get.text);
    assert.deepEqual({ v1: v1.metadata.length, v2: v2.received.length }, calls);
  });

  it("describes both versions in one OpenAPI document", () => {
    const doc = openApiDocument(loadRegistry([V1_SET, v2Set]), { title: "RAG API", version: "v1+v2" }) as {
      paths: Record<string, Record<string, { operationId: string; requestBody?: { content: Record<string, { schema: { $ref?: string } }> } }>>;
    };
    const v1Ask = doc.paths["/v1/query:ask"]?.post;
    const v2Ask = doc.paths["/v2/query:ask"]?.post;
    assert.ok(v1Ask && v2Ask, `paths: ${Object.keys(doc.paths).join(", ")}`);
    assert.ok(doc.paths["/v1/documents"], "the rest of v1 is still listed");
    // Two services named QueryService: their operations are told apart by package.
    assert.equal(v1Ask.operationId, "rag.v1.QueryService_Ask");
    assert.equal(v2Ask.operationId, "rag.v2.QueryService_Ask");
    const schemaOf = (op: typeof v1Ask) => op.requestBody?.content["application/json"]?.schema.$ref;
    assert.ok(schemaOf(v1Ask) && schemaOf(v2Ask), "both requests are described");
    assert.notEqual(schemaOf(v1Ask), schemaOf(v2Ask));
  });
});
