import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { httpBindings, loadRegistry } from "./http-rules.js";
import { Router } from "./router.js";
import { writeEchoDescriptorSet } from "./testdata/echo-descriptor.js";

const router = new Router(httpBindings(loadRegistry(["gen/rag.binpb"])));

function rpc(verb: string, path: string): string {
  const found = router.lookup(verb, path);
  assert.equal(found.kind, "found", `${verb} ${path}`);
  return found.kind === "found" ? `${found.route.info.rpcPath} ${JSON.stringify(Object.fromEntries(found.variables))}` : "";
}

describe("router over the rag.v1 bindings", () => {
  it("builds one route per annotated binding and none for internal RPCs", () => {
    const paths = router.routes.map((r) => r.info.rpcPath);
    assert.ok(paths.includes("/rag.v1.DocumentsService/CreateDocument"));
    for (const internal of ["UpdateDocumentStatus", "Authenticate", "RecordQuery", "Publish"]) {
      assert.ok(!paths.some((p) => p.endsWith(`/${internal}`)), internal);
    }
    const streams = router.routes.filter((r) => r.info.serverStreaming).map((r) => r.info.method).sort();
    assert.deepEqual(streams, ["AskStream", "GenerateStream", "WatchJob"]);
  });

  it("tells a verb route from the plain route with a variable", () => {
    assert.equal(rpc("GET", "/v1/jobs/j1"), '/rag.v1.IngestionService/GetJob {"job_id":"j1"}');
    assert.equal(rpc("GET", "/v1/jobs/j1:watch"), '/rag.v1.IngestionService/WatchJob {"job_id":"j1"}');
    assert.equal(rpc("POST", "/v1/jobs/j1:cancel"), '/rag.v1.IngestionService/CancelJob {"job_id":"j1"}');
    assert.equal(rpc("POST", "/v1/collections/handbook:search"), '/rag.v1.RetrievalService/Search {"collection":"handbook"}');
    assert.equal(rpc("GET", "/v1/collections/handbook"), '/rag.v1.RetrievalService/GetCollection {"collection":"handbook"}');
    assert.equal(rpc("POST", "/v1/collections/c/points:upsert"), '/rag.v1.RetrievalService/Upsert {"collection":"c"}');
    assert.equal(rpc("POST", "/v1/query:ask"), "/rag.v1.QueryService/Ask {}");
    assert.equal(rpc("POST", "/v1/query:askStream"), "/rag.v1.QueryService/AskStream {}");
    assert.equal(rpc("GET", "/v1/.well-known/jwks.json"), "/rag.v1.IdentityService/GetJwks {}");
  });

  it("routes by verb on one path", () => {
    assert.match(rpc("GET", "/v1/documents/d1"), /GetDocument/);
    assert.match(rpc("PATCH", "/v1/documents/d1"), /UpdateDocument/);
    assert.match(rpc("DELETE", "/v1/documents/d1"), /DeleteDocument/);
  });

  it("reports the allowed verbs for a known path, and unknown paths", () => {
    assert.deepEqual(router.lookup("PUT", "/v1/documents/d1"), { kind: "wrong-verb", allow: ["DELETE", "GET", "PATCH"], template: "/v1/documents/{document_id}" });
    assert.deepEqual(router.lookup("GET", "/v1/query:ask"), { kind: "wrong-verb", allow: ["POST"], template: "/v1/query:ask" });
    assert.deepEqual(router.lookup("GET", "/v1/nothing"), { kind: "not-found" });
    assert.deepEqual(router.lookup("GET", "/v1/documents/d1/extra"), { kind: "not-found" });
  });

  it("serves a second descriptor set beside rag.v1", () => {
    const both = new Router(httpBindings(loadRegistry(["gen/rag.binpb", writeEchoDescriptorSet()])));
    const found = both.lookup("GET", "/v2/depth/3/items/x");
    assert.equal(found.kind, "found");
    if (found.kind === "found") {
      assert.equal(found.route.info.rpcPath, "/gwtest.v1.EchoService/Echo");
      assert.deepEqual(Object.fromEntries(found.variables), { "filter.depth": "3", id: "items/x" });
    }
    assert.ok(both.lookup("GET", "/v1/documents").kind === "found");
  });
});
