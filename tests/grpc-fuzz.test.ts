/**
 * Every RPC of every service, over gRPC, against the whole stack as processes, fed what an attacker or a
 * buggy client would send: random messages built from the contracts, bytes that are no message at all,
 * NUL and invalid UTF-8 in every string field, and non-ASCII ids. What must hold:
 *   - no answer blames the server (INTERNAL, UNKNOWN, DATA_LOSS) or the mesh (UNAVAILABLE) for bad input;
 *   - NUL or invalid UTF-8 in a string field is INVALID_ARGUMENT naming that field, before any handler runs;
 *   - bytes that are not a message are INVALID_ARGUMENT naming the request;
 *   - afterwards every service process is the one that started (none died) and every service is SERVING.
 * The calls are bounded in number (a fixed count per RPC) and go to loopback only.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Client, credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { createFileRegistry, fromBinary, fromJson, toBinary, type DescField, type DescMessage, type DescMethod, type JsonValue } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { IdentityServiceClient } from "#gen/rag/v1/identity.js";
import { INTERNAL_PERMISSION, requiredPermission } from "#mesh/auth/permissions.js";
import { CATALOGUE, SERVICE_NAMES, type ServiceName } from "#mesh/catalogue.js";
import { errorDetails } from "#mesh/errors.js";
import { startTestStack, type TestStack } from "#testing/stack.js";
import { rng } from "#testing/random.js";
import { runtime, testRuntime } from "#testing/runtime.js";

const ADMIN_KEY = "rag_0123456789ab_bootstrapSecretForTheFuzzTest_01";
const RANDOM_MESSAGES_PER_RPC = 25;
const CALL_DEADLINE_MS = 20_000;
/** Codes that say the server, not the request, is at fault: bad input must never produce them. */
const SERVER_FAULTS = new Set([status.INTERNAL, status.UNKNOWN, status.DATA_LOSS, status.UNAVAILABLE, status.DEADLINE_EXCEEDED]);

const DESCRIPTORS = fileURLToPath(new URL("../gen/rag.binpb", import.meta.url));
const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(DESCRIPTORS)));

const STRINGS = [
  "",
  " ",
  "a",
  "default",
  "é",
  "日本語のテキスト",
  "\u{1F600}\u{1F4A9}",
  "\u202Eevil",
  "../../../etc/passwd",
  "' OR 1=1 --",
  "%00%C3%A9",
  "http://127.0.0.1:1/x",
  "https://example.invalid/",
  "00000000-0000-0000-0000-000000000000",
  "rag_0123456789ab_notAKey",
  "-1",
  "x".repeat(5_000),
  "<script>alert(1)</script>",
  "${jndi:ldap://x}",
  "\t\n\r",
];
const INTS = [0, 1, -1, 7, 2_147_483_647, -2_147_483_648, 1_000_000];
const UINTS = [0, 1, 7, 4_294_967_295, 1_000_000];

function pick<T>(r: () => number, items: readonly T[]): T {
  return items[Math.floor(r() * items.length)]!;
}

/** A JSON value of the field's type (proto3 JSON mapping), sometimes hostile. */
function scalarJson(field: DescField & { scalar?: unknown }, scalar: number, r: () => number): JsonValue {
  // ScalarType numbers: DOUBLE 1, FLOAT 2, INT64 3, UINT64 4, INT32 5, FIXED64 6, FIXED32 7, BOOL 8, STRING 9,
  // BYTES 12, UINT32 13, SFIXED32 15, SFIXED64 16, SINT32 17, SINT64 18.
  switch (scalar) {
    case 1:
    case 2:
      return pick(r, [0, -1, 0.5, 1e30, -1e30, "NaN", "Infinity"]);
    case 3:
    case 16:
    case 18:
      return pick(r, ["0", "1", "-1", "9223372036854775807", "-9223372036854775808"]);
    case 4:
    case 6:
      return pick(r, ["0", "1", "18446744073709551615"]);
    case 5:
    case 15:
    case 17:
      return pick(r, INTS);
    case 7:
    case 13:
      return pick(r, UINTS);
    case 8:
      return r() < 0.5;
    case 12:
      return Buffer.from(Array.from({ length: Math.floor(r() * 64) }, () => Math.floor(r() * 256))).toString("base64");
    default:
      return pick(r, STRINGS);
  }
}

function wellKnownJson(desc: DescMessage, r: () => number): JsonValue {
  switch (desc.typeName) {
    case "google.protobuf.Timestamp":
      return pick(r, ["1970-01-01T00:00:00Z", "2026-12-07T10:00:00Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"]);
    case "google.protobuf.Duration":
      return pick(r, ["0s", "1.5s", "-3s", "315576000000s"]);
    case "google.protobuf.FieldMask":
      return pick(r, ["", "title", "title,metadata", "nosuchField"]);
    case "google.protobuf.Struct":
      return { k: pick(r, STRINGS), n: 1, nested: { list: [1, "a", null] } };
    case "google.protobuf.Value":
      return pick(r, [null, 1, "a", true, { a: [] }]);
    case "google.protobuf.Empty":
      return {};
    default:
      return pick(r, STRINGS); // wrappers (StringValue …) are not used with other types here
  }
}

function randomJson(desc: DescMessage, r: () => number, depth = 0): JsonValue {
  if (desc.typeName.startsWith("google.protobuf.")) return wellKnownJson(desc, r);
  const out: Record<string, JsonValue> = {};
  const oneofsUsed = new Set<string>();
  for (const field of desc.fields) {
    if (r() < 0.4) continue;
    if (field.oneof) {
      if (oneofsUsed.has(field.oneof.name)) continue;
      oneofsUsed.add(field.oneof.name);
    }
    const value = fieldJson(field, r, depth);
    if (value !== undefined) out[field.jsonName] = value;
  }
  return out;
}

function fieldJson(field: DescField, r: () => number, depth: number): JsonValue | undefined {
  const one = (): JsonValue | undefined => {
    switch (field.fieldKind) {
      case "scalar":
        return scalarJson(field, field.scalar, r);
      case "enum":
        return r() < 0.85 ? pick(r, field.enum.values).number : 999;
      case "message":
        return depth > 3 ? undefined : randomJson(field.message, r, depth + 1);
      case "list":
        if (field.listKind === "scalar") return Array.from({ length: Math.floor(r() * 4) }, () => scalarJson(field, field.scalar, r));
        if (field.listKind === "enum") return Array.from({ length: Math.floor(r() * 3) }, () => pick(r, field.enum.values).number);
        return depth > 3 ? [] : Array.from({ length: Math.floor(r() * 3) }, () => randomJson(field.message, r, depth + 1));
      case "map": {
        const entries: Record<string, JsonValue> = {};
        for (let i = Math.floor(r() * 4); i > 0; i--) {
          const key = field.mapKey === 9 ? pick(r, STRINGS) : String(pick(r, UINTS));
          if (field.mapKind === "scalar") entries[key] = scalarJson(field, field.scalar, r);
          else if (field.mapKind === "enum") entries[key] = pick(r, field.enum.values).number;
          else if (depth <= 3) entries[key] = randomJson(field.message, r, depth + 1);
        }
        return entries;
      }
    }
  };
  return one();
}

interface Rpc {
  service: ServiceName;
  method: DescMethod;
  path: string;
}

const RPCS: Rpc[] = SERVICE_NAMES.flatMap((service) => {
  const desc = registry.getService(CATALOGUE[service].grpcService);
  assert.ok(desc, `${CATALOGUE[service].grpcService} is in gen/rag.binpb`);
  return desc.methods.map((method) => ({ service, method, path: `/${desc.typeName}/${method.name}` }));
});

/** Top-level string fields of a request, with their wire field numbers. */
function stringFields(desc: DescMessage): DescField[] {
  return desc.fields.filter((f) => f.fieldKind === "scalar" && f.scalar === 9);
}

/** A length-delimited field holding raw bytes, as it appears on the wire. */
function rawStringField(number: number, bytes: Uint8Array): Buffer {
  const varint = (n: number) => {
    const out: number[] = [];
    while (n > 0x7f) {
      out.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    out.push(n);
    return out;
  };
  return Buffer.from([...varint((number << 3) | 2), ...varint(bytes.length), ...bytes]);
}

let env: TestStack;
let adminAuthorization = "";
let serviceAuthorization = "";
const clients = new Map<ServiceName, Client>();

interface Outcome {
  code: status;
  details: string;
  field?: unknown;
}

function call(rpc: Rpc, body: Buffer): Promise<Outcome> {
  const client = clients.get(rpc.service)!;
  const metadata = new Metadata();
  metadata.set("authorization", requiredPermission(rpc.path) === INTERNAL_PERMISSION ? serviceAuthorization : adminAuthorization);
  const deadline = Date.now() + CALL_DEADLINE_MS;
  const serialize = (b: Buffer) => b;
  const deserialize = (b: Buffer) => b;
  const failed = (err: ServiceError): Outcome => ({ code: err.code, details: err.details, field: errorDetails(err).field });
  if (rpc.method.methodKind === "server_streaming") {
    return new Promise((resolve) => {
      const stream = client.makeServerStreamRequest(rpc.path, serialize, deserialize, body, metadata, { deadline });
      stream.on("data", () => undefined);
      stream.on("error", (err: ServiceError) => resolve(failed(err)));
      stream.on("end", () => resolve({ code: status.OK, details: "" }));
    });
  }
  return new Promise((resolve) => {
    client.makeUnaryRequest(rpc.path, serialize, deserialize, body, metadata, { deadline }, (err) => resolve(err ? failed(err) : { code: status.OK, details: "" }));
  });
}

function describeOutcome(rpc: Rpc, what: string, o: Outcome): string {
  return `${rpc.path} ${what}: ${status[o.code]} ${o.details.slice(0, 160)}`;
}

before(async () => {
  env = await startTestStack({ IDENTITY_BOOTSTRAP_ADMIN_KEY: ADMIN_KEY });
  for (const e of env.stack.endpoints) clients.set(e.name as ServiceName, new Client(e.grpcAddress, credentials.createInsecure()));
  const identity = testRuntime({ discovery: env.discovery }).connect(IdentityServiceClient, "identity", { auth: "none" });
  const { accessToken } = await identity.issueToken({ apiKey: ADMIN_KEY, ttlSeconds: 3_600 });
  identity.close();
  adminAuthorization = `Bearer ${accessToken}`;
  serviceAuthorization = (await runtime.tokens.authorization("default", undefined))!; // the bootstrap tenant
  assert.ok(serviceAuthorization, "tests mint service tokens (testing/auth.ts sets RAG_INTERNAL_SECRET)");
});

after(async () => {
  for (const c of clients.values()) c.close();
  await env?.stop();
});

describe("gRPC fuzz of every RPC", () => {
  test(`covers every RPC of the ${SERVICE_NAMES.length} services`, () => {
    assert.ok(RPCS.length >= 40, `only ${RPCS.length} RPCs found in gen/rag.binpb`);
  });

  test("NUL and invalid UTF-8 in any string field are INVALID_ARGUMENT naming the field", async () => {
    const problems: string[] = [];
    for (const rpc of RPCS) {
      for (const field of stringFields(rpc.method.input)) {
        const nul = await call(rpc, rawStringField(field.number, Buffer.from("a\u0000b", "utf8")));
        if (nul.code !== status.INVALID_ARGUMENT || nul.field !== field.name) problems.push(describeOutcome(rpc, `${field.name} with NUL`, nul));
        const invalid = await call(rpc, rawStringField(field.number, Uint8Array.of(0x61, 0xc3, 0x28, 0xff)));
        if (invalid.code !== status.INVALID_ARGUMENT || invalid.field !== field.name) problems.push(describeOutcome(rpc, `${field.name} with invalid UTF-8`, invalid));
      }
    }
    assert.deepEqual(problems, [], `${problems.length} string fields not held to the text rule:\n${problems.join("\n")}\n--- stack log ---\n${env.recentLog()}`);
  });

  test("non-ASCII and hostile ids are answered without a server fault", async () => {
    const problems: string[] = [];
    const ids = ["é", "%C3%A9", "\u{1F600}", "日本", "a".repeat(3_000), "\u202E", "\uFEFF", " ", "0"];
    for (const rpc of RPCS) {
      const idFields = stringFields(rpc.method.input).filter((f) => /(_id|_ids|name|token)$/.test(f.name));
      for (const field of idFields) {
        for (const id of ids) {
          const o = await call(rpc, rawStringField(field.number, Buffer.from(id, "utf8")));
          if (SERVER_FAULTS.has(o.code)) problems.push(describeOutcome(rpc, `${field.name}=${JSON.stringify(id.slice(0, 20))}`, o));
        }
      }
    }
    assert.deepEqual(problems, [], `${problems.length} server faults:\n${problems.join("\n")}\n--- stack log ---\n${env.recentLog()}`);
  });

  test("bytes that are not a message are INVALID_ARGUMENT naming the request", async () => {
    const problems: string[] = [];
    const r = rng(7);
    const garbage = [
      Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), // a varint longer than 64 bits
      Buffer.from([0x0a, 0x64, 0x61]), // a string field whose length runs past the end
      Buffer.from([0x0f]), // wire type 7 does not exist
      Buffer.from(Array.from({ length: 200 }, () => Math.floor(r() * 256))),
    ];
    for (const rpc of RPCS) {
      for (const bytes of garbage) {
        const o = await call(rpc, bytes);
        // Random bytes may happen to decode (unknown fields are skipped); then any answer but a fault is fine.
        if (SERVER_FAULTS.has(o.code)) problems.push(describeOutcome(rpc, `garbage ${bytes.subarray(0, 6).toString("hex")}`, o));
      }
      const truncated = await call(rpc, garbage[1]!);
      if (truncated.code !== status.INVALID_ARGUMENT || truncated.field !== "request") problems.push(describeOutcome(rpc, "truncated message", truncated));
    }
    assert.deepEqual(problems, [], `${problems.length} problems:\n${problems.join("\n")}`);
  });

  test(`${RANDOM_MESSAGES_PER_RPC} random messages per RPC are answered without a server fault`, async (t) => {
    const problems: string[] = [];
    const codes = new Map<string, number>();
    let sent = 0;
    for (const [i, rpc] of RPCS.entries()) {
      const r = rng(1_000 + i);
      for (let n = 0; n < RANDOM_MESSAGES_PER_RPC; n++) {
        const json = randomJson(rpc.method.input, r);
        let bytes: Uint8Array;
        try {
          bytes = toBinary(rpc.method.input, fromJson(rpc.method.input, json));
        } catch {
          continue; // a JSON value the mapping itself refuses (e.g. an unknown enum number in a closed enum)
        }
        const o = await call(rpc, Buffer.from(bytes));
        sent++;
        codes.set(status[o.code], (codes.get(status[o.code]) ?? 0) + 1);
        if (SERVER_FAULTS.has(o.code)) problems.push(describeOutcome(rpc, JSON.stringify(json).slice(0, 200), o));
      }
    }
    t.diagnostic(`${sent} random messages sent; answers: ${JSON.stringify(Object.fromEntries(codes))}`);
    assert.ok(sent >= RPCS.length * RANDOM_MESSAGES_PER_RPC * 0.8, `only ${sent} of the random messages could be encoded`);
    assert.deepEqual(problems, [], `${problems.length} server faults (codes seen: ${JSON.stringify(Object.fromEntries(codes))}):\n${problems.join("\n")}\n--- stack log ---\n${env.recentLog()}`);
  });

  test("afterwards no service process has died and every service is SERVING", async () => {
    // The launcher restarts a crashed service, so a crash shows only here.
    assert.deepEqual(env.unexpectedExits.map((e) => `${e.name}: ${JSON.stringify(e.exit)}`), [], `no process exited during the fuzz run\n--- stack log ---\n${env.recentLog()}`);
    for (const e of env.stack.endpoints) {
      const res = await fetch(`http://127.0.0.1:${e.adminPort}/readyz`);
      assert.equal(res.status, 200, `${e.name} /readyz: ${res.status} ${await res.text()}`);
    }
  });
});
