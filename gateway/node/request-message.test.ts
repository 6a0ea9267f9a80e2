import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { toJson, type JsonValue } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { HttpError } from "./errors.js";
import { loadRegistry } from "./http-rules.js";
import { buildRequestMessage } from "./request-message.js";
import { writeEchoDescriptorSet } from "./testdata/echo-descriptor.js";

const registry = loadRegistry(["gen/rag.binpb", writeEchoDescriptorSet()]);
const echo = registry.getMessage("gwtest.v1.EchoRequest")!;
const createDoc = registry.getMessage("rag.v1.CreateDocumentRequest")!;
const updateDoc = registry.getMessage("rag.v1.UpdateDocumentRequest")!;

function build(schema = echo, opts: { body?: string; path?: Record<string, string>; query?: string; json?: JsonValue } = {}) {
  const message = buildRequestMessage(
    schema,
    opts.body ?? "",
    { pathVariables: new Map(Object.entries(opts.path ?? {})), query: new URLSearchParams(opts.query ?? ""), body: opts.json },
    registry,
  );
  return toJson(schema, message, { registry }) as Record<string, unknown>;
}

function rejects(fn: () => unknown, message: RegExp, field?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof HttpError, String(err));
    assert.equal(err.status, 400);
    assert.equal(err.grpcCode, status.INVALID_ARGUMENT);
    assert.match(err.message, message);
    if (field !== undefined) assert.deepEqual(err.details, [{ field }]);
    return true;
  });
}

describe("request messages from query parameters", () => {
  it("converts scalars, enums (name or number), repeated and nested fields, int64 and timestamps", () => {
    const json = build(echo, {
      query: "big=9007199254740993&color=COLOR_RED&flag=true&tags=a&tags=b&filter.tags=x&filter.tags=y&filter.depth=3&filter.color=2&filter.colors=COLOR_RED&filter.colors=2&at=2024-05-01T12:00:00Z&counts=1&counts=-5",
    });
    assert.deepEqual(json, {
      big: "9007199254740993",
      color: "COLOR_RED",
      flag: true,
      tags: ["a", "b"],
      filter: { tags: ["x", "y"], depth: 3, color: "COLOR_BLUE", colors: ["COLOR_RED", "COLOR_BLUE"] },
      at: "2024-05-01T12:00:00Z",
      counts: ["1", "-5"],
    });
  });

  it("accepts proto and lowerCamel names", () => {
    const list = registry.getMessage("rag.v1.ListDocumentsRequest")!;
    assert.deepEqual(build(list, { query: "page_size=10&pageToken=t&source_uri=s" }), { pageSize: 10, pageToken: "t", sourceUri: "s" });
  });

  it("names the parameter and field of every bad value", () => {
    rejects(() => build(echo, { query: "pageSize2=1" }), /unknown field "pageSize2"/, "pageSize2");
    rejects(() => build(echo, { query: "filter.nope=1" }), /unknown field "filter\.nope"/, "filter.nope");
    rejects(() => build(echo, { query: "big=abc" }), /query parameter "big".*field "big"/, "big");
    rejects(() => build(echo, { query: "color=PURPLE" }), /field "color": "PURPLE" is not a value of enum gwtest\.v1\.Color/, "color");
    rejects(() => build(echo, { query: "flag=yes" }), /expected true or false, got "yes"/);
    rejects(() => build(echo, { query: "filter.depth=1&filter.depth=2" }), /not repeated but was given 2 times/, "depth");
    rejects(() => build(echo, { query: "filter=x" }), /gwtest\.v1\.Filter cannot be given as text/);
    rejects(() => build(echo, { query: "at=yesterday" }), /field "at": invalid RFC 3339 string/, "at");
    rejects(() => build(echo, { query: "labels=x" }), /map field "labels" cannot be set from the URL/, "labels");
    rejects(() => build(echo, { query: "id.x=1" }), /field "id" has no sub-fields/, "id");
  });
});

describe("request messages from path variables and bodies", () => {
  it("sets nested fields from path variables", () => {
    assert.deepEqual(build(echo, { path: { "filter.depth": "4", id: "items/x" } }), { id: "items/x", filter: { depth: 4 } });
    rejects(() => build(echo, { path: { "filter.depth": "deep" } }), /path variable "filter\.depth".*field "filter\.depth"/, "filter.depth");
  });

  it("takes the whole request from a body '*' and merges the path into it", () => {
    const json = build(updateDoc, { body: "*", path: { document_id: "d1" }, json: { title: "T", tags: ["a"], update_mask: "title,tags" } });
    assert.deepEqual(json, { documentId: "d1", title: "T", tags: ["a"], updateMask: "title,tags" });
    // The same id in the body is fine; a different one is a contradiction.
    assert.equal(build(updateDoc, { body: "*", path: { document_id: "d1" }, json: { documentId: "d1" } }).documentId, "d1");
    rejects(() => build(updateDoc, { body: "*", path: { document_id: "d1" }, json: { document_id: "d2" } }), /"d2" in the request body but "d1" in the path/, "document_id");
  });

  it("treats a missing body as {} and rejects query parameters beside body '*'", () => {
    assert.deepEqual(build(createDoc, { body: "*" }), {});
    rejects(() => build(createDoc, { body: "*", query: "title=x" }), /query parameter "title" is not allowed/);
  });

  it("names the body field that fails to decode, however deep", () => {
    rejects(() => build(createDoc, { body: "*", json: { pageSize2: 1 } }), /^invalid request body: unknown field "pageSize2"$/, "pageSize2");
    rejects(() => build(createDoc, { body: "*", json: { tags: [1] } }), /invalid request body: field "tags": list item #1: expected string, got 1/, "tags");
    rejects(() => build(createDoc, { body: "*", json: [] }), /expected a JSON object, got an array/);
    const startJob = registry.getMessage("rag.v1.StartJobRequest")!;
    rejects(
      () => build(startJob, { body: "*", json: { source: { files: { files: [{ filename: "a" }, { filename: "b", size: 1 }] } } } }),
      /unknown field "source\.files\.files\[1\]\.size"/,
      "source.files.files[1].size",
    );
    rejects(() => build(startJob, { body: "*", json: { quality_options: { min_text_length: "many" } } }), /field "quality_options\.min_text_length": expected number/, "quality_options.min_text_length");
  });

  it("holds bodies to the OpenAPI document where proto3 JSON is lenient: no null, no undefined enum number", () => {
    const listDocs = registry.getMessage("rag.v1.ListDocumentsRequest")!;
    const createKey = registry.getMessage("rag.v1.CreateApiKeyRequest")!;
    rejects(() => build(createDoc, { body: "*", json: null }), /expected a JSON object, got null/);
    rejects(() => build(createDoc, { body: "*", json: { title: null } }), /field "title": null is not a value here/, "title");
    rejects(() => build(createKey, { body: "*", json: { role: 7 } }), /7 is not a value of enum rag\.v1\.Role/, "role");
    assert.equal(build(createKey, { body: "*", json: { role: 1 } }).role, "ROLE_READER");
    rejects(() => build(listDocs, { query: "status=-3" }), /-3 is not a value of enum rag\.v1\.DocumentStatus/, "status");
  });

  it("puts a body into the named field and keeps query parameters for the rest", () => {
    const json = build(echo, { body: "filter", path: { id: "e1" }, query: "flag=1", json: { tags: ["t"], depth: 2 } });
    assert.deepEqual(json, { id: "e1", flag: true, filter: { tags: ["t"], depth: 2 } });
    rejects(() => build(echo, { body: "filter", json: { nope: 1 } }), /unknown field "filter\.nope"/);
    rejects(() => build(echo, { body: "filter", query: "filter.depth=1", json: {} }), /which the request body carries/, "filter.depth");
  });
});
