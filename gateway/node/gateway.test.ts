import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { Server, ServerCredentials, status } from "@grpc/grpc-js";
import { DocumentStatus, DocumentsServiceService } from "#gen/rag/v1/documents.js";
import { createGateway, HttpError, type EdgePolicy, type Gateway, type RouteInfo } from "./gateway.js";
import { writeEchoDescriptorSet } from "./testdata/echo-descriptor.js";
import { BIG_SIZE, startFakeUpstream, type FakeUpstream } from "./testdata/fake-upstream.js";
import { request, type Reply } from "./testdata/http-request.js";

const MAX_BODY = 64 * 1024;


/** Opens a streaming response and reads it until `until` holds for the text so far. */
function openStream(port: number, method: string, path: string, opts: { headers?: Record<string, string>; body?: unknown } = {}) {
  const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  let text = "";
  let ended = false;
  const waiters: (() => void)[] = [];
  const notify = () => waiters.splice(0).forEach((w) => w());
  let response!: http.IncomingMessage;
  const req = http.request({ host: "127.0.0.1", port, method, path, agent: false, headers: { ...(body ? { "content-type": "application/json" } : {}), ...opts.headers } });
  const opened = new Promise<http.IncomingMessage>((resolve, reject) => {
    req.on("response", (res) => {
      response = res;
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        text += c;
        notify();
      });
      res.on("end", () => {
        ended = true;
        notify();
      });
      resolve(res);
    });
    req.on("error", reject);
  });
  req.end(body);
  return {
    opened,
    get text() {
      return text;
    },
    async until(done: (text: string) => boolean): Promise<string> {
      await opened;
      while (!done(text)) {
        if (ended) assert.fail(`stream ended before the expected content; got:\n${text}`);
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
      return text;
    },
    async end(): Promise<string> {
      await opened;
      while (!ended) await new Promise<void>((resolve) => waiters.push(resolve));
      return text;
    },
    abort() {
      req.destroy();
      response?.destroy();
    },
  };
}

function sseEvents(text: string): { event?: string; id?: string; data: any }[] {
  return text
    .split("\n\n")
    .filter((block) => block.trim() !== "")
    .map((block) => {
      const fields = Object.fromEntries(block.split("\n").map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 2)]));
      return { event: fields.event, id: fields.id, data: JSON.parse(fields.data) };
    });
}

/** A loopback port nothing listens on: bind one, then release it. */
async function deadPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

const JSON_TYPE = "application/json; charset=utf-8";

describe("REST→gRPC gateway", () => {
  let fake: FakeUpstream;
  let gateway: Gateway;
  let port: number;
  const admitted: RouteInfo[] = [];

  const policy: EdgePolicy = {
    async admit(req, route) {
      admitted.push(route);
      const key = req.headers["x-api-key"];
      if (key === "bad") throw new HttpError(401, status.UNAUTHENTICATED, "invalid API key", { headers: { "www-authenticate": 'ApiKey realm="rag"' } });
      if (key === "greedy") throw new HttpError(429, status.RESOURCE_EXHAUSTED, "rate limit exceeded", { headers: { "retry-after": "7" }, details: [{ limit: 10 }] });
      return { metadata: { "X-Tenant-Id": "tenant-a" }, headers: { "ratelimit-limit": "100" } };
    },
  };

  before(async () => {
    fake = await startFakeUpstream();
    gateway = createGateway({
      descriptorSets: ["gen/rag.binpb", writeEchoDescriptorSet()],
      upstream: () => fake.address,
      policy,
      maxBodyBytes: MAX_BODY,
      cors: { allowedOrigins: ["https://app.example"] },
      extraRoutes: (req, res) => {
        if (req.url !== "/openapi.json") return false;
        res.writeHead(200, { "content-type": "application/json; charset=utf-8" });
        res.end('{"openapi":"3.1.0"}');
        return true;
      },
    });
    port = await gateway.listen(0, "127.0.0.1");
  });

  after(async () => {
    await gateway.close();
    await fake.stop();
  });

  describe("unary calls", () => {
    let documentId = "";

    it("creates a document from a body '*' and renders proto3 JSON", async () => {
      const res = await request(port, "POST", "/v1/documents", { body: { title: "Guide", text: "Hello world", tags: ["a", "b"], metadata: { team: "docs" } } });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers["content-type"], JSON_TYPE);
      const doc = res.json.document;
      documentId = doc.documentId;
      assert.equal(doc.title, "Guide");
      assert.deepEqual(doc.tags, ["a", "b"]);
      assert.deepEqual(doc.metadata, { team: "docs" });
      assert.equal(doc.sizeBytes, BIG_SIZE, "int64 as a string, precision kept");
      assert.equal(doc.version, "1");
      assert.equal(doc.status, "DOCUMENT_STATUS_PENDING", "enum by name");
      assert.equal(doc.createTime, "2024-05-01T12:00:00.250Z", "Timestamp in RFC 3339");
      assert.equal(doc.statusMessage, "", "implicit defaults are written out");
      assert.equal(doc.tenantId, "tenant-a", "policy metadata reached the upstream");
      assert.equal(res.json.duplicate, false);
    });

    it("reads one document by path variable", async () => {
      const res = await request(port, "GET", `/v1/documents/${documentId}`);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.document.documentId, documentId);
    });

    it("fills list requests from query parameters (snake or camel names, enum by name)", async () => {
      const res = await request(port, "GET", "/v1/documents?page_size=10&status=DOCUMENT_STATUS_PENDING&collection=default");
      assert.equal(res.status, 200, res.text);
      assert.equal(fake.lastListRequest?.pageSize, 10);
      assert.equal(fake.lastListRequest?.status, DocumentStatus.DOCUMENT_STATUS_PENDING);
      assert.equal(fake.lastListRequest?.collection, "default");
      assert.deepEqual(res.json.documents.map((d: { documentId: string }) => d.documentId), [documentId]);
      await request(port, "GET", "/v1/documents?pageSize=3&status=1");
      assert.equal(fake.lastListRequest?.pageSize, 3);
      assert.equal(fake.lastListRequest?.status, DocumentStatus.DOCUMENT_STATUS_PENDING, "enum by number");
    });

    it("patches and deletes", async () => {
      const patched = await request(port, "PATCH", `/v1/documents/${documentId}`, { body: { title: "Guide v2", updateMask: "title" } });
      assert.equal(patched.status, 200, patched.text);
      assert.equal(patched.json.document.title, "Guide v2");
      assert.equal(patched.json.document.version, "2");
      const deleted = await request(port, "DELETE", `/v1/documents/${documentId}`);
      assert.equal(deleted.status, 200, deleted.text);
      assert.deepEqual(deleted.json, { deletedChunkCount: 1 });
      const gone = await request(port, "GET", `/v1/documents/${documentId}`);
      assert.equal(gone.status, 404);
      assert.deepEqual(gone.json, { code: 5, status: "NOT_FOUND", message: `document "${documentId}" not found`, details: [{ kind: "document", id: documentId }] });
    });

    it("maps an upstream INVALID_ARGUMENT to 400 with the field in details", async () => {
      const res = await request(port, "POST", "/v1/documents", { body: { text: "no title" } });
      assert.equal(res.status, 400);
      assert.equal(res.headers["content-type"], JSON_TYPE);
      assert.deepEqual(res.json, { code: 3, status: "INVALID_ARGUMENT", message: "title: is required", details: [{ field: "title" }] });
    });

    it("converts nested, repeated, enum and int64 query parameters (second descriptor set)", async () => {
      const res = await request(port, "GET", "/v2/echo/e%2F1?big=9007199254740993&color=COLOR_BLUE&flag=true&filter.tags=a&filter.tags=b&filter.colors=1&filter.colors=COLOR_BLUE&counts=-4");
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.id, "e/1", "path variable URL-decoded");
      assert.equal(res.json.big, "9007199254740993");
      assert.equal(res.json.color, "COLOR_BLUE");
      assert.equal(res.json.flag, true);
      assert.deepEqual(res.json.filter.tags, ["a", "b"]);
      assert.deepEqual(res.json.filter.colors, ["COLOR_RED", "COLOR_BLUE"]);
      assert.deepEqual(res.json.counts, ["-4"]);
    });

    it("sets nested path variables and honours body and response_body fields", async () => {
      const nested = await request(port, "GET", "/v2/depth/7/items/x");
      assert.equal(nested.status, 200, nested.text);
      assert.equal(nested.json.id, "items/x");
      assert.equal(nested.json.filter.depth, 7);
      const onlyFilter = await request(port, "GET", "/v2/echo/e1/filter?filter.depth=2&filter.tags=t");
      assert.equal(onlyFilter.status, 200, onlyFilter.text);
      assert.deepEqual(onlyFilter.json, { tags: ["t"], depth: 2, color: "COLOR_UNSPECIFIED", colors: [] });
      const posted = await request(port, "POST", "/v2/echo/e1/filter?flag=true", { body: { tags: ["p"], color: "COLOR_RED" } });
      assert.equal(posted.status, 200, posted.text);
      assert.equal(posted.json.flag, true);
      assert.deepEqual(posted.json.filter.tags, ["p"]);
      assert.equal(posted.json.filter.color, "COLOR_RED");
    });
  });

  describe("bad requests", () => {
    it("rejects an unknown body field by name", async () => {
      const res = await request(port, "POST", "/v1/documents", { body: { title: "x", pageSize2: 1 } });
      assert.equal(res.status, 400);
      assert.deepEqual(res.json, { code: 3, status: "INVALID_ARGUMENT", message: 'invalid request body: unknown field "pageSize2"', details: [{ field: "pageSize2" }] });
    });

    it("names the field of a badly typed value", async () => {
      const res = await request(port, "GET", "/v1/documents?page_size=ten");
      assert.equal(res.status, 400);
      assert.match(res.json.message, /query parameter "page_size".*field "page_size": expected number/);
    });

    it("names the position of malformed JSON", async () => {
      const res = await request(port, "POST", "/v1/documents", { body: '{"title": "x",}', headers: { "content-type": "application/json" } });
      assert.equal(res.status, 400);
      assert.equal(res.json.status, "INVALID_ARGUMENT");
      assert.match(res.json.message, /malformed JSON: .*position \d+/);
    });

    it("wants application/json bodies", async () => {
      const res = await request(port, "POST", "/v1/documents", { body: "title=x", headers: { "content-type": "application/x-www-form-urlencoded" } });
      assert.equal(res.status, 415);
      assert.match(res.json.message, /application\/json/);
    });

    it("treats an empty body as {}", async () => {
      // CreateDocument then fails upstream for the missing title: the request did reach it.
      const res = await request(port, "POST", "/v1/documents");
      assert.equal(res.status, 400);
      assert.deepEqual(res.json.details, [{ field: "title" }]);
    });

    it("refuses a declared oversized body before reading it", async () => {
      const res = await request(port, "POST", "/v1/documents", { body: { title: "big", text: "x".repeat(MAX_BODY) } });
      assert.equal(res.status, 413);
      assert.equal(res.headers["content-type"], JSON_TYPE);
      assert.match(res.json.message, new RegExp(`limit of ${MAX_BODY} bytes`));
    });

    it("stops reading a chunked body that grows past the limit", async () => {
      const res = await new Promise<Reply>((resolve, reject) => {
        const req = http.request({ host: "127.0.0.1", port, method: "POST", path: "/v1/documents", agent: false, headers: { "content-type": "application/json", "transfer-encoding": "chunked" } }, (r) => {
          let text = "";
          r.setEncoding("utf8");
          r.on("data", (c: string) => (text += c));
          r.on("end", () => resolve({ status: r.statusCode ?? 0, headers: r.headers, text, json: JSON.parse(text) }));
        });
        // Writing may fail once the gateway closes the connection; the response is what counts.
        req.on("error", (err) => (req.destroyed ? undefined : reject(err)));
        const chunk = "x".repeat(16 * 1024);
        req.write('{"title":"big","text":"');
        for (let i = 0; i < 8; i++) req.write(chunk);
        req.end('"}');
      });
      assert.equal(res.status, 413);
      assert.equal(res.json.status, "INVALID_ARGUMENT");
    });

    it("answers unknown paths with 404 and known paths with another verb with 405", async () => {
      const missing = await request(port, "GET", "/v1/nothing");
      assert.equal(missing.status, 404);
      assert.equal(missing.headers["content-type"], JSON_TYPE);
      assert.deepEqual(missing.json, { code: 5, status: "NOT_FOUND", message: "no route for GET /v1/nothing", details: [] });
      const wrongVerb = await request(port, "PUT", "/v1/documents/d1");
      assert.equal(wrongVerb.status, 405);
      assert.equal(wrongVerb.headers.allow, "DELETE, GET, PATCH");
      assert.equal(wrongVerb.json.status, "UNIMPLEMENTED");
    });
  });

  describe("server streams", () => {
    it("relays a stream as Server-Sent Events ending with an end event, each event's id its sequence", async () => {
      const stream = openStream(port, "GET", "/v1/jobs/j1:watch");
      const res = await stream.opened;
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers["content-type"], "text/event-stream; charset=utf-8");
      const events = sseEvents(await stream.end());
      assert.deepEqual(events.map((e) => [e.event, e.id]), [[undefined, "7"], [undefined, "9"], ["end", undefined]]);
      assert.equal(events[0].data.eventType, "JOB_EVENT_TYPE_SNAPSHOT");
      assert.equal(events[0].data.job.jobId, "j1");
      assert.equal(events[0].data.job.progress.itemsDiscovered, "12");
      assert.equal(events[1].data.job.state, "JOB_STATE_SUCCEEDED");
      assert.deepEqual(events[2].data, {});
    });

    it("relays NDJSON when asked for it", async () => {
      const stream = openStream(port, "GET", "/v1/jobs/j2:watch", { headers: { accept: "application/x-ndjson" } });
      const res = await stream.opened;
      assert.equal(res.headers["content-type"], "application/x-ndjson; charset=utf-8");
      const lines = (await stream.end()).trim().split("\n").map((l) => JSON.parse(l));
      assert.equal(lines.length, 2);
      assert.equal(lines[0].result.job.state, "JOB_STATE_RUNNING");
      assert.equal(lines[1].result.job.state, "JOB_STATE_SUCCEEDED");
    });

    it("streams a POST with a body (AskStream)", async () => {
      const stream = openStream(port, "POST", "/v1/query:askStream", { body: { question: "what is rag", collection: "handbook" } });
      const events = sseEvents(await stream.end());
      assert.deepEqual(events.slice(0, 3).map((e) => e.data.answerDelta), ["what ", "is ", "rag "]);
      assert.deepEqual(events[3].data.done, { answered: true, cached: false, model: "", finishReason: "FINISH_REASON_UNSPECIFIED", collection: "handbook" });
      assert.equal(events[4].event, "end");
    });

    it("sends an error event when the upstream fails mid-stream", async () => {
      const sse = sseEvents(await openStream(port, "GET", "/v1/jobs/flaky:watch").end());
      assert.equal(sse.length, 2);
      assert.equal(sse[1].event, "error");
      assert.deepEqual(sse[1].data, { code: 14, status: "UNAVAILABLE", message: "job store went away", details: [] });
      const ndjson = (await openStream(port, "GET", "/v1/jobs/flaky:watch", { headers: { accept: "application/x-ndjson" } }).end()).trim().split("\n").map((l) => JSON.parse(l));
      assert.equal(ndjson.length, 2);
      assert.deepEqual(ndjson[1], { error: { code: 14, status: "UNAVAILABLE", message: "job store went away", details: [] } });
    });

    it("answers an error before the first message as an ordinary JSON error", async () => {
      const res = await request(port, "GET", "/v1/jobs/missing:watch");
      assert.equal(res.status, 404);
      assert.equal(res.headers["content-type"], JSON_TYPE);
      assert.equal(res.json.status, "NOT_FOUND");
    });

    it("cancels the upstream stream when the client disconnects", async () => {
      const stream = openStream(port, "GET", "/v1/jobs/forever:watch");
      await stream.until((t) => t.includes("\n\n"));
      stream.abort();
      await fake.foreverCancelled;
    });
  });

  describe("edge concerns", () => {
    it("answers CORS preflights for allowed origins only", async () => {
      const allowed = await request(port, "OPTIONS", "/v1/documents", { headers: { origin: "https://app.example", "access-control-request-method": "POST" } });
      assert.equal(allowed.status, 204);
      assert.equal(allowed.headers["access-control-allow-origin"], "https://app.example");
      assert.equal(allowed.headers["access-control-allow-methods"], "GET, POST");
      assert.match(String(allowed.headers["access-control-allow-headers"]), /authorization, content-type, x-api-key, x-request-id, accept/);
      assert.ok(Number(allowed.headers["access-control-max-age"]) > 0);
      assert.equal(allowed.headers.vary, "Origin");
      const denied = await request(port, "OPTIONS", "/v1/documents", { headers: { origin: "https://evil.example", "access-control-request-method": "POST" } });
      assert.equal(denied.headers["access-control-allow-origin"], undefined);
      assert.equal(denied.headers["access-control-allow-methods"], undefined);
    });

    it("adds CORS headers to actual responses for allowed origins", async () => {
      const res = await request(port, "GET", "/v1/documents", { headers: { origin: "https://app.example" } });
      assert.equal(res.headers["access-control-allow-origin"], "https://app.example");
      assert.match(String(res.headers["access-control-expose-headers"]), /X-Request-Id, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, RateLimit-Policy/);
      const other = await request(port, "GET", "/v1/documents", { headers: { origin: "https://evil.example" } });
      assert.equal(other.headers["access-control-allow-origin"], undefined);
    });

    it("echoes and forwards a valid request id, trace context included", async () => {
      const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
      const res = await request(port, "GET", "/v1/documents", { headers: { "x-request-id": "req-123", traceparent, tracestate: "rag=1" } });
      assert.equal(res.headers["x-request-id"], "req-123");
      const md = fake.metadata.at(-1)!;
      assert.deepEqual(md.get("x-request-id"), ["req-123"]);
      assert.deepEqual(md.get("traceparent"), [traceparent]);
      assert.deepEqual(md.get("tracestate"), ["rag=1"]);
      assert.deepEqual(md.get("x-tenant-id"), ["tenant-a"]);
    });

    it("replaces an invalid request id with a UUID, on errors too", async () => {
      for (const given of ["has space", "x".repeat(129)]) {
        const res = await request(port, "GET", "/v1/nothing", { headers: { "x-request-id": given } });
        assert.match(String(res.headers["x-request-id"]), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      }
    });

    it("lets the policy see the route and refuse with its own status and headers", async () => {
      admitted.length = 0;
      const refused = await request(port, "GET", "/v1/jobs/j1:watch", { headers: { "x-api-key": "bad" } });
      assert.equal(refused.status, 401);
      assert.equal(refused.headers["www-authenticate"], 'ApiKey realm="rag"');
      assert.deepEqual(refused.json, { code: 16, status: "UNAUTHENTICATED", message: "invalid API key", details: [] });
      assert.deepEqual(admitted, [
        { service: "rag.v1.IngestionService", method: "WatchJob", rpcPath: "/rag.v1.IngestionService/WatchJob", verb: "GET", template: "/v1/jobs/{job_id}:watch", serverStreaming: true },
      ]);
      const limited = await request(port, "POST", "/v1/documents", { headers: { "x-api-key": "greedy" }, body: { title: "x", text: "y" } });
      assert.equal(limited.status, 429);
      assert.equal(limited.headers["retry-after"], "7");
      assert.deepEqual(limited.json.details, [{ limit: 10 }]);
      const ok = await request(port, "GET", "/v1/documents");
      assert.equal(ok.headers["ratelimit-limit"], "100", "admission headers reach the response");
    });

    it("mounts extra routes", async () => {
      const res = await request(port, "GET", "/openapi.json");
      assert.deepEqual(res.json, { openapi: "3.1.0" });
    });

    it("reports health, readiness and metrics", async () => {
      const health = await request(port, "GET", "/healthz");
      assert.equal(health.status, 200);
      assert.equal(health.headers["content-type"], JSON_TYPE);
      assert.deepEqual(health.json, { status: "ok" });
      const ready = await request(port, "GET", "/readyz");
      assert.equal(ready.status, 200, ready.text);
      const metrics = await request(port, "GET", "/metrics");
      assert.equal(metrics.status, 200);
      assert.match(metrics.text, /gateway_http_requests_total\{route="\/v1\/documents\/\{document_id\}",verb="GET",status="200"\} \d+/);
      assert.match(metrics.text, /gateway_http_requests_total\{route="\(unmatched\)",verb="GET",status="404"\}/);
      assert.match(metrics.text, /gateway_http_request_duration_seconds_bucket\{le="[^"]+",route="\/v1\/jobs\/\{job_id\}:watch",verb="GET"\}/);
      assert.match(metrics.text, /process_cpu_user_seconds_total/);
      assert.doesNotMatch(metrics.text, /route="\/v1\/documents\/doc-/, "never raw paths");
    });
  });
});

describe("gateway with an unreachable upstream", () => {
  let gateway: Gateway;
  let port: number;

  let deadAddress = "";

  before(async () => {
    deadAddress = `127.0.0.1:${await deadPort()}`;
    gateway = createGateway({
      descriptorSets: ["gen/rag.binpb"],
      upstream: (service) => (service === "rag.v1.QueryService" ? undefined : deadAddress),
      ready: async () => {
        throw new Error("signing keys not loaded");
      },
      readinessDetail: async (req) => req.headers["x-api-key"] === "operator",
    });
    port = await gateway.listen(0, "127.0.0.1");
  });

  after(() => gateway.close());

  it("is not ready; says what is degraded, by service name and without addresses, only to an authenticated caller", async () => {
    const anonymous = await request(port, "GET", "/readyz");
    assert.equal(anonymous.status, 503);
    assert.deepEqual(anonymous.json, { status: "not ready" }, "an unauthenticated caller gets the status alone");
    const res = await request(port, "GET", "/readyz", { headers: { "x-api-key": "operator" } });
    assert.equal(res.status, 503);
    assert.equal(res.json.status, "not ready");
    const problems: string[] = res.json.problems;
    assert.ok(problems.includes("query: no upstream configured"), problems.join("\n"));
    assert.ok(problems.includes("gateway: signing keys not loaded"), problems.join("\n"));
    assert.ok(problems.includes("documents: UNAVAILABLE"), problems.join("\n"));
    assert.ok(res.json.degraded.includes("documents") && res.json.degraded.includes("query") && res.json.degraded.includes("gateway"), res.text);
    assert.doesNotMatch(res.text, /127\.0\.0\.1|:\d{2,5}\b|ECONNREFUSED/, "no address in /readyz");
  });

  it("answers calls with 503", async () => {
    const res = await request(port, "GET", "/v1/documents/d1");
    assert.equal(res.status, 503);
    assert.equal(res.json.status, "UNAVAILABLE");
    assert.equal(res.json.message, "documents is unavailable: retry later", "the service by name, no upstream address");
    assert.ok(!res.text.includes(deadAddress.split(":")[1]!), res.text);
    const unrouted = await request(port, "POST", "/v1/query:ask", { body: { question: "q" } });
    assert.equal(unrouted.status, 503);
    assert.match(unrouted.json.message, /no upstream is configured for rag\.v1\.QueryService/);
  });

  it("keeps CORS off by default", async () => {
    const res = await request(port, "OPTIONS", "/v1/documents", { headers: { origin: "https://app.example", "access-control-request-method": "POST" } });
    assert.equal(res.status, 405);
    assert.equal(res.headers["access-control-allow-origin"], undefined);
  });
});

describe("gateway with an upstream that does not answer", () => {
  it("answers 504 naming the service, with no address or grpc-js detail", async () => {
    const server = new Server();
    server.addService(DocumentsServiceService, new Proxy({}, { get: () => () => {} }) as never); // accepts every call, answers none
    const upstreamPort = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    const gateway = createGateway({ descriptorSets: ["gen/rag.binpb"], upstream: () => `127.0.0.1:${upstreamPort}`, unaryTimeoutMs: 300 });
    const port = await gateway.listen(0, "127.0.0.1");
    try {
      const res = await request(port, "GET", "/v1/documents/d1");
      assert.equal(res.status, 504, res.text);
      assert.deepEqual(res.json, { code: status.DEADLINE_EXCEEDED, status: "DEADLINE_EXCEEDED", message: "documents did not answer in time", details: [] });
    } finally {
      await gateway.close();
      server.forceShutdown();
    }
  });
});

describe("gateway shutdown", () => {
  it("ends open streams with a retryable error and closes", async () => {
    const fake = await startFakeUpstream();
    const gateway = createGateway({ descriptorSets: ["gen/rag.binpb"], upstream: () => fake.address });
    const port = await gateway.listen(0, "127.0.0.1");
    const stream = openStream(port, "GET", "/v1/jobs/forever:watch");
    await stream.until((t) => t.includes("\n\n"));
    await gateway.close();
    const events = sseEvents(await stream.end());
    assert.equal(events.at(-1)?.event, "error");
    assert.equal(events.at(-1)?.data.status, "UNAVAILABLE");
    await fake.foreverCancelled;
    await fake.stop();
  });
});
