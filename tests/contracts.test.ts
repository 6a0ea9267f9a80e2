// Contract checks for proto/ and gen/:
//   (a) buf lint passes (STANDARD + COMMENTS),
//   (b) gen/ is exactly what scripts/gen-proto.sh produces from proto/,
//   (c) every rag.v1 service exists and every public RPC has a google.api.http rule
//       whose path variables and body name fields of the request,
//   (d) the generated ts-proto modules load and expose the grpc-js service definitions.
// Run: node --import tsx --test tests/contracts.test.ts
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import assert from "node:assert/strict";

import { createFileRegistry, fromBinary, hasOption, getOption } from "@bufbuild/protobuf";
import type { DescExtension, DescMethod, DescService } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";

const root = fileURLToPath(new URL("..", import.meta.url));
const genDir = join(root, "gen");
const env = { ...process.env, PATH: `${join(root, "node_modules", ".bin")}${delimiter}${process.env.PATH ?? ""}` };

/** The services of package rag.v1 and the proto file each lives in. */
const SERVICES: Record<string, string> = {
  DocumentsService: "rag/v1/documents.proto",
  IngestionService: "rag/v1/ingestion.proto",
  EmbeddingsService: "rag/v1/embeddings.proto",
  RetrievalService: "rag/v1/retrieval.proto",
  GenerationService: "rag/v1/generation.proto",
  QueryService: "rag/v1/query.proto",
  IdentityService: "rag/v1/identity.proto",
  NotificationsService: "rag/v1/notifications.proto",
};

/**
 * RPCs called only service-to-service. They deliberately have no REST mapping, so the
 * gateways (Envoy, Kong, the Node gateway) cannot expose them.
 */
const INTERNAL_RPCS = new Set([
  "rag.v1.DocumentsService/UpdateDocumentStatus", // ingestion marks documents indexed/failed
  "rag.v1.IdentityService/Authenticate", // gateway resolves credentials
  "rag.v1.IdentityService/RecordQuery", // query appends to the caller's history
  "rag.v1.IdentityService/WatchRevocations", // gateways learn of revoked API keys
  "rag.v1.NotificationsService/Publish", // services emit webhook events
]);

function buf(...args: string[]): string {
  try {
    return execFileSync(join(root, "scripts", "buf"), args, { cwd: root, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`buf ${args.join(" ")} failed:\n${e.stdout ?? ""}${e.stderr ?? ""}`.trimEnd() || e.message);
  }
}

/** Every file under dir, as paths relative to dir with forward slashes, sorted. */
function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else out.push(relative(dir, p).split("\\").join("/"));
    }
  };
  walk(dir);
  return out.sort();
}

function loadRegistry() {
  const set = fromBinary(FileDescriptorSetSchema, readFileSync(join(genDir, "rag.binpb")));
  const registry = createFileRegistry(set);
  const http = registry.getExtension("google.api.http");
  assert.ok(http, "gen/rag.binpb lacks the google.api.http extension (google/api/annotations.proto)");
  const services = new Map<string, DescService>();
  for (const file of registry.files) {
    for (const service of file.services) {
      if (service.typeName.startsWith("rag.v1.")) services.set(service.name, service);
    }
  }
  return { http: http as DescExtension, services };
}

const lowerFirst = (s: string): string => s.charAt(0).toLowerCase() + s.slice(1);
const rpcName = (m: DescMethod): string => `${m.parent.typeName}/${m.name}`;

test("(a) buf lint passes", () => {
  buf("lint");
});

test("(b) gen/ is fresh: regenerating from proto/ yields identical files", () => {
  const tmp = mkdtempSync(join(tmpdir(), "rag-gen-"));
  try {
    buf("generate", "-o", tmp);
    buf("build", "--as-file-descriptor-set", "-o", join(tmp, "gen", "rag.binpb"));
    const fresh = join(tmp, "gen");
    const want = listFiles(fresh);
    const have = listFiles(genDir);
    const missing = want.filter((f) => !have.includes(f));
    const extra = have.filter((f) => !want.includes(f));
    const stale = want.filter(
      (f) => have.includes(f) && !readFileSync(join(fresh, f)).equals(readFileSync(join(genDir, f))),
    );
    const problems = [
      ...stale.map((f) => `stale: gen/${f}`),
      ...missing.map((f) => `missing: gen/${f}`),
      ...extra.map((f) => `not generated from proto/ (remove it): gen/${f}`),
    ];
    assert.deepEqual(problems, [], `gen/ is out of date; run \`bash scripts/gen-proto.sh\`:\n${problems.join("\n")}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test("(c) every rag.v1 service exists and every public RPC has a google.api.http rule", () => {
  const { http, services } = loadRegistry();
  assert.deepEqual([...services.keys()].sort(), Object.keys(SERVICES).sort(), "rag.v1 services");

  const problems: string[] = [];
  const routes = new Map<string, string>();
  for (const [name, file] of Object.entries(SERVICES)) {
    const service = services.get(name)!;
    if (service.file.name + ".proto" !== file) problems.push(`${name} is in ${service.file.name}.proto, expected ${file}`);
    for (const method of service.methods) {
      const rpc = rpcName(method);
      const annotated = hasOption(method, http);
      if (INTERNAL_RPCS.has(rpc)) {
        if (annotated) problems.push(`${rpc} is internal but has a google.api.http rule`);
        continue;
      }
      if (!annotated) {
        problems.push(`${rpc} has no google.api.http rule (add one, or list it in INTERNAL_RPCS)`);
        continue;
      }
      const rule = getOption(method, http) as {
        pattern: { case: string | undefined; value?: unknown };
        body: string;
        additionalBindings: unknown[];
      };
      const verb = rule.pattern.case;
      const path = typeof rule.pattern.value === "string" ? rule.pattern.value : "";
      if (!verb || !["get", "post", "put", "patch", "delete"].includes(verb) || !path.startsWith("/v1/")) {
        problems.push(`${rpc}: expected get/post/put/patch/delete under /v1/, got ${verb ?? "none"} ${path}`);
        continue;
      }
      const fields = new Set(method.input.fields.map((f) => f.name));
      for (const [, variable] of path.matchAll(/\{([^}=]+)(?:=[^}]*)?\}/g)) {
        if (!fields.has(variable!)) problems.push(`${rpc}: path variable {${variable}} is not a field of ${method.input.name}`);
      }
      if ((verb === "get" || verb === "delete") && rule.body !== "") problems.push(`${rpc}: ${verb} must not have a body`);
      if (rule.body !== "" && rule.body !== "*" && !fields.has(rule.body)) {
        problems.push(`${rpc}: body "${rule.body}" is not a field of ${method.input.name}`);
      }
      const route = `${verb.toUpperCase()} ${path}`;
      if (routes.has(route)) problems.push(`${rpc}: ${route} is also bound to ${routes.get(route)}`);
      routes.set(route, rpc);
    }
  }
  for (const rpc of INTERNAL_RPCS) {
    const [service, method] = rpc.replace("rag.v1.", "").split("/");
    if (!services.get(service!)?.methods.some((m) => m.name === method)) problems.push(`allow-listed ${rpc} does not exist`);
  }
  assert.deepEqual(problems, []);
});

test("(d) generated modules load and expose the grpc-js service definitions", async () => {
  const { services } = loadRegistry();
  const problems: string[] = [];
  for (const [name, file] of Object.entries(SERVICES)) {
    const modulePath = join(genDir, file.replace(/\.proto$/, ".ts"));
    const mod = (await import(modulePath)) as Record<string, unknown>;
    const definition = mod[`${name}Service`] as
      | Record<string, { path: string; requestStream: boolean; responseStream: boolean }>
      | undefined;
    if (!definition) {
      problems.push(`${file}: no export ${name}Service`);
      continue;
    }
    if (typeof mod[`${name}Client`] !== "function") problems.push(`${file}: no export ${name}Client`);
    const methods = services.get(name)?.methods ?? [];
    for (const method of methods) {
      const entry = definition[lowerFirst(method.name)];
      const path = `/${rpcName(method)}`;
      if (!entry) problems.push(`${name}Service.${lowerFirst(method.name)} is missing`);
      else if (entry.path !== path) problems.push(`${name}Service.${lowerFirst(method.name)}.path is ${entry.path}, expected ${path}`);
      else if (entry.responseStream !== (method.methodKind === "server_streaming")) {
        problems.push(`${path}: responseStream is ${entry.responseStream}`);
      }
    }
    if (Object.keys(definition).length !== methods.length) {
      problems.push(`${name}Service has ${Object.keys(definition).length} methods, descriptor has ${methods.length}`);
    }
  }
  assert.deepEqual(problems, []);

  // Spot checks that do not depend on the descriptor set.
  const documents = await import("../gen/rag/v1/documents.js");
  assert.equal(documents.DocumentsServiceService.createDocument.path, "/rag.v1.DocumentsService/CreateDocument");
  const query = await import("../gen/rag/v1/query.js");
  assert.equal(query.QueryServiceService.askStream.responseStream, true);
  const ingestion = await import("../gen/rag/v1/ingestion.js");
  assert.equal(ingestion.IngestionServiceService.watchJob.responseStream, true);
  const generation = await import("../gen/rag/v1/generation.js");
  assert.equal(generation.GenerationServiceService.generateStream.responseStream, true);

  // ts-proto options took effect: int64 as string, Timestamp as Date, oneof as unions.
  const doc = documents.Document.fromPartial({ sizeBytes: "9007199254740993", createTime: new Date(0) });
  const back = documents.Document.decode(documents.Document.encode(doc).finish());
  assert.equal(back.sizeBytes, "9007199254740993");
  assert.ok(back.createTime instanceof Date);
  const event = generation.GenerateStreamResponse.fromPartial({ event: { $case: "delta", value: "Hi" } });
  assert.deepEqual(generation.GenerateStreamResponse.decode(generation.GenerateStreamResponse.encode(event).finish()).event, {
    $case: "delta",
    value: "Hi",
  });
});
