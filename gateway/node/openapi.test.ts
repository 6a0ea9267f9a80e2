import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { create, createFileRegistry, setExtension, type DescExtension, type FileRegistry } from "@bufbuild/protobuf";
import { FieldDescriptorProto_Label as Label, FieldDescriptorProto_Type as Type, FileDescriptorProtoSchema, MethodOptionsSchema, file_google_protobuf_duration, file_google_protobuf_wrappers, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { httpBindings, loadRegistry } from "./http-rules.js";
import { openApiDocument } from "./openapi.js";

// The documents are plain JSON; tests walk them freely.
type Json = any;

const RAG_SET = fileURLToPath(new URL("../../gen/rag.binpb", import.meta.url));
const registry = loadRegistry([RAG_SET]);
const doc: Json = openApiDocument(registry, { title: "RAG API", version: "1.0.0", serverUrl: "/" });
const schemas: Json = doc.components.schemas;

function operations(d: Json): { path: string; verb: string; op: Json }[] {
  return Object.entries(d.paths as Record<string, Json>).flatMap(([path, item]) =>
    Object.entries(item as Record<string, Json>).map(([verb, op]) => ({ path, verb, op })));
}

function opById(d: Json, id: string): Json {
  const found = operations(d).find((o) => o.op.operationId === id);
  assert.ok(found, `operation ${id} is missing`);
  return found.op;
}

function resolve(d: Json, ref: string): Json {
  assert.ok(ref.startsWith("#/"), `only local refs are expected, got ${ref}`);
  return ref.slice(2).split("/").reduce((node: Json, part) => node?.[part.replace(/~1/g, "/").replace(/~0/g, "~")], d);
}

function allRefs(node: Json, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const n of node) allRefs(n, out);
  else if (node && typeof node === "object") {
    for (const [k, v] of Object.entries(node)) {
      if (k === "$ref") out.push(v as string);
      else allRefs(v, out);
    }
  }
  return out;
}

function prop(typeName: string, name: string): Json {
  const schema = schemas[typeName];
  assert.ok(schema, `schema ${typeName} is missing`);
  assert.ok(schema.properties[name], `${typeName} has no property ${name}`);
  return schema.properties[name];
}

test("every binding is an operation with its verb, OpenAPI path and <Service>_<Method> id", () => {
  const bindings = httpBindings(registry);
  assert.ok(bindings.length > 30);
  for (const b of bindings) {
    const path = b.template.replace(/\{([^}=]+)(=[^}]*)?\}/g, "{$1}");
    const op = doc.paths[path]?.[b.verb.toLowerCase()];
    assert.ok(op, `${b.verb} ${path} is missing`);
    assert.equal(op.operationId, `${b.service.name}_${b.method.name}`);
    assert.deepEqual(op.tags, [b.service.name]);
  }
  assert.equal(operations(doc).length, bindings.length);
  assert.ok(doc.paths["/v1/query:ask"].post, "the :verb suffix stays literal");
  assert.ok(doc.paths["/v1/jobs/{job_id}:watch"].get);
  assert.ok(doc.paths["/v1/collections/{collection}:search"].post);
});

test("operationIds are unique and every $ref resolves", () => {
  const ids = operations(doc).map((o) => o.op.operationId);
  assert.equal(new Set(ids).size, ids.length);
  const refs = allRefs(doc);
  assert.ok(refs.length > 100);
  for (const ref of refs) assert.ok(resolve(doc, ref) !== undefined, `${ref} does not resolve`);
});

test("the document has the OpenAPI 3.1 structure", () => {
  assert.equal(doc.openapi, "3.1.0");
  assert.deepEqual(doc.info, { title: "RAG API", version: "1.0.0" });
  assert.deepEqual(doc.servers, [{ url: "/" }]);
  const tagNames = doc.tags.map((t: Json) => t.name);
  assert.ok(tagNames.includes("DocumentsService") && tagNames.includes("QueryService"));
  assert.match(doc.tags.find((t: Json) => t.name === "DocumentsService").description, /system of record/);
  for (const name of Object.keys(schemas)) assert.match(name, /^[A-Za-z0-9._-]+$/, `component name ${name}`);
  for (const { path, verb, op } of operations(doc)) {
    const where = `${verb.toUpperCase()} ${path}`;
    assert.ok(["get", "post", "put", "patch", "delete"].includes(verb), where);
    assert.ok(op.responses["200"] && op.responses.default, `${where} lacks 200/default`);
    assert.ok(op.summary, `${where} lacks a summary`);
    const params: Json[] = op.parameters ?? [];
    const keys = params.map((p) => `${p.in}:${p.name}`);
    assert.equal(new Set(keys).size, keys.length, `${where} repeats a parameter`);
    const inPath = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
    const declared = params.filter((p) => p.in === "path").map((p) => p.name).sort();
    assert.deepEqual(declared, inPath, `${where} path parameters`);
    for (const p of params) {
      assert.ok(p.schema, `${where} parameter ${p.name} has no schema`);
      if (p.in === "path") assert.equal(p.required, true);
    }
    if (verb === "get" || verb === "delete") assert.equal(op.requestBody, undefined, `${where} has a body`);
    for (const media of Object.values(op.requestBody?.content ?? {}) as Json[]) assert.ok(media.schema);
  }
});

test("a GET lists its request fields as query parameters; a body: \"*\" POST has a body instead", () => {
  const list = opById(doc, "DocumentsService_ListDocuments");
  const names = list.parameters.map((p: Json) => `${p.in}:${p.name}`);
  assert.deepEqual(names, ["query:pageSize", "query:pageToken", "query:collection", "query:tag", "query:status", "query:sourceUri"]);
  const status = list.parameters.find((p: Json) => p.name === "status");
  assert.deepEqual(status.schema, { $ref: "#/components/schemas/rag.v1.DocumentStatus" });
  assert.match(status.description, /DOCUMENT_STATUS_UNSPECIFIED means any/);
  // Bounds come from the contract's (validate.rules): page_size >= 0.
  assert.deepEqual(list.parameters[0].schema, { type: "integer", format: "int32", minimum: 0, maximum: 2147483647 });

  const get = opById(doc, "DocumentsService_GetDocument");
  assert.deepEqual(get.parameters.map((p: Json) => `${p.in}:${p.name}`), ["path:document_id", "query:includeText"]);

  const create = opById(doc, "DocumentsService_CreateDocument");
  assert.equal(create.parameters, undefined);
  assert.deepEqual(create.requestBody.content["application/json"].schema, { $ref: "#/components/schemas/rag.v1.CreateDocumentRequest" });
  assert.deepEqual(create.responses["200"].content["application/json"].schema, { $ref: "#/components/schemas/rag.v1.CreateDocumentResponse" });
  assert.equal(create.summary, "Stores a new document: parses `text` or `content`, normalises and chunks it, and returns the document with status DOCUMENT_STATUS_PENDING until it has been indexed for search.");
  assert.match(create.description, /Errors: INVALID_ARGUMENT/);

  // With body "*" and a path variable, the documented body leaves the path field out.
  const update = opById(doc, "DocumentsService_UpdateDocument");
  const body = update.requestBody.content["application/json"].schema;
  assert.equal(body.properties.documentId, undefined);
  assert.ok(body.properties.title);
  assert.deepEqual(body.properties.updateMask.type, "string");
});

test("schemas follow the proto3 JSON mapping", () => {
  assert.deepEqual(Object.keys(schemas["rag.v1.Document"].properties).slice(0, 3), ["documentId", "tenantId", "collection"]);
  for (const name of ["sizeBytes", "version"]) {
    const p = prop("rag.v1.Document", name);
    assert.equal(p.type, "string");
    assert.equal(p.format, "int64");
  }
  assert.equal(prop("rag.v1.Document", "createTime").type, "string");
  assert.equal(prop("rag.v1.Document", "createTime").format, "date-time");
  assert.equal(prop("rag.v1.Document", "status").$ref, "#/components/schemas/rag.v1.DocumentStatus");
  assert.match(prop("rag.v1.Document", "status").description, /Indexing status/);
  const tags = prop("rag.v1.Document", "tags");
  assert.deepEqual([tags.type, tags.items], ["array", { type: "string" }]);
  const metadata = prop("rag.v1.Document", "metadata");
  assert.deepEqual([metadata.type, metadata.additionalProperties], ["object", { type: "string" }]);
  const content = prop("rag.v1.CreateDocumentRequest", "content");
  assert.deepEqual([content.type, content.contentEncoding], ["string", "base64"]);

  const status = schemas["rag.v1.DocumentStatus"];
  // Requests may give an enum by number too (proto3 JSON); responses name it.
  assert.deepEqual(status.type, ["string", "integer"]);
  assert.deepEqual(status.enum, ["DOCUMENT_STATUS_UNSPECIFIED", "DOCUMENT_STATUS_PENDING", "DOCUMENT_STATUS_INDEXING", "DOCUMENT_STATUS_INDEXED", "DOCUMENT_STATUS_FAILED", 0, 1, 2, 3, 4]);
  assert.match(status.description, /- `DOCUMENT_STATUS_FAILED`: Indexing failed/);

  const stream = schemas["rag.v1.AskStreamResponse"];
  assert.match(stream.description, /Oneof `event`: at most one of `sources`, `answerDelta`/);
  assert.match(stream.properties.answerDelta.description, /Part of oneof `event`/);

  const error = schemas.Error;
  assert.deepEqual(Object.keys(error.properties), ["code", "status", "message", "details"]);
  assert.ok(error.properties.status.enum.includes("INVALID_ARGUMENT"));
});

test("server-streaming RPCs document SSE and NDJSON framing", () => {
  const ask = opById(doc, "QueryService_AskStream");
  const ok = ask.responses["200"];
  assert.deepEqual(ok.content["text/event-stream"].schema, { $ref: "#/components/schemas/rag.v1.AskStreamResponse" });
  const ndjson = ok.content["application/x-ndjson"].schema.oneOf;
  assert.deepEqual(ndjson.map((s: Json) => s.required[0]), ["result", "error"]);
  assert.match(ok.description, /event: end/);
  assert.match(ok.description, /event: error/);
  assert.match(ok.description, /\{"result": <message>\}/);
  assert.ok(opById(doc, "IngestionService_WatchJob").responses["200"].content["text/event-stream"]);
  assert.ok(opById(doc, "QueryService_Ask").responses["200"].content["application/json"]);
  assert.deepEqual(ask.responses.default, { $ref: "#/components/responses/Error" });
});

test("security: bearer JWT or API key everywhere except the public identity calls", () => {
  assert.deepEqual(doc.security, [{ bearerAuth: [] }, { apiKey: [] }]);
  const { bearerAuth, apiKey } = doc.components.securitySchemes;
  assert.deepEqual([bearerAuth.type, bearerAuth.scheme, bearerAuth.bearerFormat], ["http", "bearer", "JWT"]);
  assert.match(bearerAuth.description, /POST \/v1\/tokens/);
  assert.deepEqual([apiKey.type, apiKey.in, apiKey.name], ["apiKey", "header", "X-API-Key"]);
  assert.match(apiKey.description, /Authorization: Bearer rag_/);
  const open = operations(doc).filter((o) => o.op.security !== undefined).map((o) => o.op.operationId).sort();
  assert.deepEqual(open, ["IdentityService_GetJwks", "IdentityService_IssueToken"]);
  for (const id of open) assert.deepEqual(opById(doc, id).security, []);
});

test("output is deterministic", () => {
  const again = openApiDocument(loadRegistry([RAG_SET]), { title: "RAG API", version: "1.0.0", serverUrl: "/" });
  assert.equal(JSON.stringify(again), JSON.stringify(doc));
  const names = Object.keys(schemas);
  assert.deepEqual(names, [...names].sort());
});

test("bad options are rejected with the option named", () => {
  assert.throws(() => openApiDocument(registry, { title: "", version: "1" }), /title must be a non-empty string/);
  assert.throws(() => openApiDocument(registry, { title: "t", version: " " }), /version must be a non-empty string/);
  assert.throws(() => openApiDocument(registry, { title: "t", version: "1", serverUrl: "ftp://x" }), /serverUrl "ftp:\/\/x"/);
  assert.throws(() => openApiDocument(registry, { title: "t", version: "1", publicMethods: ["GetJwks"] }), /public method "GetJwks"/);
  const noServer = openApiDocument(registry, { title: "t", version: "1", publicMethods: [] }) as Json;
  assert.equal(noServer.servers, undefined);
  assert.equal(operations(noServer).filter((o) => o.op.security).length, 0);
});

// ---------------------------------------------------------------------------------------------------------------
// A small hand-built contract for what rag.v1 does not use: recursion, field bodies, response_body, additional
// bindings, multi-segment path variables, int map keys, deprecation and more well-known types.

interface RuleSpec { verb: string; path: string; body?: string; responseBody?: string; extra?: RuleSpec[] }

function fieldProto(name: string, number: number, type: Type, opts: { typeName?: string; repeated?: boolean; deprecated?: boolean; oneof?: number } = {}): Json {
  return {
    name, number, type,
    // protoc always fills json_name; a hand-built descriptor has to as well.
    jsonName: name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()),
    label: opts.repeated ? Label.REPEATED : Label.OPTIONAL,
    ...(opts.typeName ? { typeName: opts.typeName } : {}),
    ...(opts.oneof !== undefined ? { oneofIndex: opts.oneof } : {}),
    ...(opts.deprecated ? { options: { deprecated: true } } : {}),
  };
}

function libraryRegistry(rules: Record<string, RuleSpec>): FileRegistry {
  const base = loadRegistry([RAG_SET]);
  const ext = base.getExtension("google.api.http") as DescExtension;
  const ruleSchema = base.getMessage("google.api.HttpRule")!;
  const rule = (r: RuleSpec): Json => create(ruleSchema, {
    pattern: { case: r.verb, value: r.path },
    body: r.body ?? "",
    responseBody: r.responseBody ?? "",
    additionalBindings: (r.extra ?? []).map(rule),
  } as Json);
  const method = (name: string, input: string, output: string, serverStreaming = false) => {
    const options = create(MethodOptionsSchema);
    if (rules[name]) setExtension(options, ext, rule(rules[name]));
    return { name, inputType: `.lib.v1.${input}`, outputType: `.lib.v1.${output}`, serverStreaming, options };
  };
  const file: FileDescriptorProto = create(FileDescriptorProtoSchema, {
    name: "lib/v1/library.proto",
    package: "lib.v1",
    syntax: "proto3",
    dependency: ["google/api/annotations.proto", "google/protobuf/struct.proto", "google/protobuf/duration.proto", "google/protobuf/wrappers.proto"],
    messageType: [
      {
        name: "Shelf",
        field: [
          fieldProto("name", 1, Type.STRING),
          fieldProto("parent_shelf", 2, Type.MESSAGE, { typeName: ".lib.v1.Shelf" }),
          fieldProto("counts", 3, Type.MESSAGE, { typeName: ".lib.v1.Shelf.CountsEntry", repeated: true }),
          fieldProto("old_code", 4, Type.STRING, { deprecated: true }),
          fieldProto("attributes", 5, Type.MESSAGE, { typeName: ".google.protobuf.Struct" }),
          fieldProto("retention", 6, Type.MESSAGE, { typeName: ".google.protobuf.Duration" }),
          fieldProto("capacity", 7, Type.MESSAGE, { typeName: ".google.protobuf.Int64Value" }),
          fieldProto("isbn", 8, Type.STRING, { oneof: 0 }),
          fieldProto("barcode", 9, Type.UINT64, { oneof: 0 }),
        ],
        nestedType: [{
          name: "CountsEntry",
          field: [fieldProto("key", 1, Type.INT32), fieldProto("value", 2, Type.FIXED64)],
          options: { mapEntry: true },
        }],
        oneofDecl: [{ name: "code" }],
      },
      {
        name: "GetShelfRequest",
        field: [
          fieldProto("name", 1, Type.STRING),
          fieldProto("view", 2, Type.MESSAGE, { typeName: ".lib.v1.View" }),
        ],
      },
      { name: "View", field: [fieldProto("full", 1, Type.BOOL), fieldProto("fields", 2, Type.STRING, { repeated: true }), fieldProto("labels", 3, Type.MESSAGE, { typeName: ".lib.v1.View.LabelsEntry", repeated: true }), fieldProto("parent", 4, Type.MESSAGE, { typeName: ".lib.v1.View" })],
        nestedType: [{ name: "LabelsEntry", field: [fieldProto("key", 1, Type.STRING), fieldProto("value", 2, Type.STRING)], options: { mapEntry: true } }] },
      { name: "PutShelfRequest", field: [fieldProto("name", 1, Type.STRING), fieldProto("shelf", 2, Type.MESSAGE, { typeName: ".lib.v1.Shelf" }), fieldProto("validate_only", 3, Type.BOOL)] },
      { name: "ShelfResponse", field: [fieldProto("shelf", 1, Type.MESSAGE, { typeName: ".lib.v1.Shelf" }), fieldProto("etag", 2, Type.STRING)] },
    ],
    service: [{
      name: "LibraryService",
      method: [
        method("GetShelf", "GetShelfRequest", "ShelfResponse"),
        method("PutShelf", "PutShelfRequest", "ShelfResponse"),
        method("WatchShelf", "GetShelfRequest", "Shelf", true),
        ...(rules.Broken ? [method("Broken", "GetShelfRequest", "Shelf")] : []),
      ],
    }],
  } as Json);
  // rag.v1 imports neither duration.proto nor wrappers.proto; protobuf-es ships their descriptors.
  const known = new Set([...base.files].map((f) => f.proto.name));
  const wkts = [file_google_protobuf_duration, file_google_protobuf_wrappers].map((f) => f.proto).filter((p) => !known.has(p.name));
  const baseFiles = [...[...base.files].map((f) => f.proto), ...wkts];
  return createFileRegistry({ $typeName: "google.protobuf.FileDescriptorSet", file: [...baseFiles, file] } as Json);
}

const LIBRARY_RULES: Record<string, RuleSpec> = {
  GetShelf: { verb: "get", path: "/v1/{name=shelves/*}", responseBody: "shelf", extra: [{ verb: "get", path: "/v1/shelves:default" }] },
  PutShelf: { verb: "put", path: "/v1/{name=shelves/*}", body: "shelf" },
  WatchShelf: { verb: "get", path: "/v1/{name=shelves/*}:watch" },
};

test("hand-built contract: path patterns, field bodies, response_body, additional bindings", () => {
  const lib: Json = openApiDocument(libraryRegistry(LIBRARY_RULES), { title: "Library", version: "2" });
  for (const ref of allRefs(lib)) assert.ok(resolve(lib, ref) !== undefined, `${ref} does not resolve`);

  const get = lib.paths["/v1/{name}"].get;
  assert.equal(get.operationId, "LibraryService_GetShelf");
  assert.equal(get.parameters[0].name, "name");
  assert.match(get.parameters[0].description, /Matches `shelves\/\*`/);
  // Nested messages become dotted query names; maps cannot be spelled in a query; a self-reference stops at one level.
  assert.deepEqual(get.parameters.map((p: Json) => p.name), ["name", "view.full", "view.fields"]);
  assert.deepEqual(get.parameters[2].schema, { type: "array", items: { type: "string" } });
  assert.equal(get.parameters[2].explode, true);
  assert.deepEqual(get.responses["200"].content["application/json"].schema, { $ref: "#/components/schemas/lib.v1.Shelf" });
  assert.equal(lib.paths["/v1/shelves:default"].get.operationId, "LibraryService_GetShelf_2");

  const put = lib.paths["/v1/{name}"].put;
  assert.equal(put.requestBody.required, true);
  assert.deepEqual(put.requestBody.content["application/json"].schema, { $ref: "#/components/schemas/lib.v1.Shelf" });
  assert.deepEqual(put.parameters.map((p: Json) => `${p.in}:${p.name}`), ["path:name", "query:validateOnly"]);
  assert.deepEqual(put.responses["200"].content["application/json"].schema, { $ref: "#/components/schemas/lib.v1.ShelfResponse" });

  const watch = lib.paths["/v1/{name}:watch"].get;
  assert.deepEqual(watch.responses["200"].content["text/event-stream"].schema, { $ref: "#/components/schemas/lib.v1.Shelf" });
});

test("hand-built contract: recursion, maps, deprecation and well-known types in schemas", () => {
  const lib: Json = openApiDocument(libraryRegistry(LIBRARY_RULES), { title: "Library", version: "2" });
  const shelf = lib.components.schemas["lib.v1.Shelf"].properties;
  assert.equal(shelf.parentShelf.$ref, "#/components/schemas/lib.v1.Shelf");
  assert.deepEqual(shelf.counts, { type: "object", additionalProperties: { type: "string", format: "int64", pattern: "^-?[0-9]{1,18}$" }, propertyNames: { pattern: "^-?[0-9]+$" } });
  assert.equal(shelf.oldCode.deprecated, true);
  assert.deepEqual(shelf.attributes, { type: "object", additionalProperties: true, description: "Any JSON object." });
  assert.equal(shelf.retention.type, "string");
  assert.match(shelf.retention.description, /`1\.5s`/);
  assert.deepEqual(shelf.capacity, { type: ["string", "null"], format: "int64" });
  assert.deepEqual([shelf.barcode.type, shelf.barcode.format], ["string", "int64"]);
  assert.match(lib.components.schemas["lib.v1.Shelf"].description, /Oneof `code`: at most one of `isbn`, `barcode` is set/);
  assert.equal(lib.components.schemas["lib.v1.Shelf.CountsEntry"], undefined, "map entries are not components");
  // View only ever travels in a query string, so it never appears as JSON.
  assert.equal(lib.components.schemas["lib.v1.View"], undefined);
});

test("contract mistakes are reported with the RPC and template named", () => {
  const broken = (path: string, extra: Partial<RuleSpec> = {}) =>
    () => openApiDocument(libraryRegistry({ ...LIBRARY_RULES, Broken: { verb: "get", path, ...extra } }), { title: "t", version: "1" });
  assert.throws(broken("/v1/{title}"), /lib\.v1\.LibraryService\.Broken: "title" is not a field path of lib\.v1\.GetShelfRequest/);
  assert.throws(broken("/v1/*/shelves"), /Broken: path template "\/v1\/\*\/shelves" has a wildcard outside a \{variable\}/);
  assert.throws(broken("/v1/{name"), /has an unclosed "\{"/);
  assert.throws(broken("/v1/{view}"), /path variable "view" must name a scalar or enum field/);
  assert.throws(broken("/v1/shelves:default"), /GET \/v1\/shelves:default is bound by both lib\.v1\.LibraryService\.GetShelf and lib\.v1\.LibraryService\.Broken/);
  assert.throws(broken("/v1/x", { responseBody: "nope" }), /Broken: response_body "nope" is not a field of lib\.v1\.Shelf/);
  assert.throws(broken("/v1/x", { body: "nope" }), /Broken: body "nope" is not a field of lib\.v1\.GetShelfRequest/);
});

test("request constraints come from the contracts: field_behavior REQUIRED and validate.rules", () => {
  const key = schemas["rag.v1.CreateApiKeyRequest"];
  assert.deepEqual(key.required, ["name", "role"]);
  assert.equal(key.additionalProperties, false);
  assert.deepEqual([key.properties.name.pattern, key.properties.name.maxLength], ["\\S", 200]);
  assert.deepEqual(key.properties.role.enum, ["ROLE_READER", "ROLE_EDITOR", "ROLE_ADMIN", 1, 2, 3], "REQUIRED leaves out the zero value");
  const createKey = opById(doc, "IdentityService_CreateApiKey");
  assert.equal(createKey.requestBody.required, true, "a message with required fields needs a body");

  const get = opById(doc, "DocumentsService_GetDocument");
  assert.equal(get.parameters[0].schema.format, "uuid");
  assert.deepEqual(opById(doc, "DocumentsService_ListDocuments").parameters[0].schema.minimum, 0);

  const doc2 = schemas["rag.v1.CreateDocumentRequest"].properties;
  assert.deepEqual([doc2.tags.maxItems, doc2.tags.items.maxLength], [50, 64]);
  assert.deepEqual([doc2.metadata.maxProperties, doc2.metadata.propertyNames.maxLength, doc2.metadata.additionalProperties.maxLength], [64, 64, 1024]);
  assert.equal(doc2.collection.pattern, "^[a-z0-9_-]{0,64}$");

  // An update mask names the request's own non-required fields, in lowerCamelCase.
  const mask = schemas["rag.v1.UpdateUserRequest"].properties.updateMask;
  assert.ok(new RegExp(mask.pattern).test("displayName,roles"));
  assert.ok(!new RegExp(mask.pattern).test("userId"));

  // A required oneof: exactly one member.
  assert.deepEqual(schemas["rag.v1.JobSource"].oneOf, [{ required: ["files"] }, { required: ["webCrawl"] }, { required: ["sql"] }, { required: ["httpApi"] }]);
  assert.deepEqual(schemas["rag.v1.UpdateDocumentRequest"].properties.expectedVersion.pattern, "^[0-9]{1,18}$");
});
