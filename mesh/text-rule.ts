import { createFileRegistry, fromBinary, ScalarType, type DescField, type DescMessage, type FileRegistry } from "@bufbuild/protobuf";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { FileDescriptorProtoSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import type { PackageDefinition } from "@grpc/proto-loader";
import { InvalidArgumentError } from "./errors.js";
import { qualifyFileDescriptors } from "./descriptors.js";

/**
 * The one rule for text in every request, whatever the service: a string field must be valid UTF-8 and must
 * not contain NUL (U+0000). Postgres refuses NUL in text, and a lenient decoder silently turns invalid
 * UTF-8 into U+FFFD, so without this rule such input either fails deep inside a store (HTTP 500) or is
 * stored altered. The caller instead gets INVALID_ARGUMENT naming the field, before any handler runs.
 *
 * Invalid UTF-8 is caught while the request is decoded (the protobuf reader takes our decoder), and the
 * field is then named by walking the decoded message with its descriptor, so map keys, repeated fields
 * and oneofs are reported with their proto path (e.g. `metadata["k"]`, `source.files.files[2].filename`).
 */

const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const lenient = new TextDecoder("utf-8", { ignoreBOM: true });

/** Strings the decoder had to repair, per decoded request: they came from invalid UTF-8 bytes. */
const repaired = new WeakMap<object, ReadonlySet<string>>();

/**
 * Wraps a ts-proto `requestDeserialize` so that strings are decoded strictly: invalid UTF-8 is still
 * decoded (with U+FFFD) but remembered, for `checkRequestText` to reject with the field's name. ts-proto's
 * `decode` accepts a reader in place of bytes, and nested messages share it.
 */
export function strictTextDeserializer<T>(deserialize: (bytes: Buffer) => T): (bytes: Buffer) => T | MalformedRequest {
  // A deserializer that is not ts-proto's (proto-loader's protobufjs, in tests and examples) refuses a
  // reader; such a method keeps its own decoding, and only the NUL part of the rule applies to it.
  let takesReader = true;
  const plain = (bytes: Buffer) => {
    try {
      return deserialize(bytes);
    } catch (err) {
      return new MalformedRequest(err);
    }
  };
  return (bytes) => {
    if (!takesReader) return plain(bytes);
    let bad: Set<string> | undefined;
    const reader = new BinaryReader(bytes, (utf8) => {
      try {
        return strict.decode(utf8);
      } catch {
        const text = lenient.decode(utf8);
        (bad ??= new Set()).add(text);
        return text;
      }
    });
    let message: T;
    try {
      message = deserialize(reader as unknown as Buffer);
    } catch (err) {
      if (reader.pos !== 0 || bad !== undefined) return new MalformedRequest(err);
      takesReader = false;
      return plain(bytes);
    }
    if (bad && typeof message === "object" && message !== null) repaired.set(message, bad);
    return message;
  };
}

/**
 * Bytes that are not a protobuf message at all (truncated, a wrong wire type). Left to grpc-js, such a
 * request is answered INTERNAL ("Error deserializing request"), which blames the server for the
 * caller's bytes; decoding returns this instead, and the request check answers INVALID_ARGUMENT.
 */
export class MalformedRequest {
  readonly reason: string;
  constructor(err: unknown) {
    this.reason = err instanceof Error ? err.message : String(err);
  }
}

/** Request descriptors by method path, read from the same proto files the server reflects. */
export class RequestSchemas {
  private readonly registry: FileRegistry;

  constructor(definition: PackageDefinition) {
    const files = new Map<string, FileDescriptorProto>();
    for (const entry of Object.values(definition)) {
      const protos = (entry as { fileDescriptorProtos?: Buffer[] }).fileDescriptorProtos ?? [];
      for (const bytes of protos) {
        const file = fromBinary(FileDescriptorProtoSchema, bytes);
        if (!files.has(file.name)) files.set(file.name, file);
      }
    }
    this.registry = createFileRegistry({ $typeName: "google.protobuf.FileDescriptorSet", file: qualifyFileDescriptors([...files.values()]) });
  }

  /** The request message of `/pkg.Service/Method`; a method the protos do not describe cannot be served. */
  requestOf(methodPath: string): DescMessage {
    const [, service, method] = methodPath.split("/");
    const desc = this.registry.getService(service ?? "")?.methods.find((m) => m.name === method);
    if (!desc) throw new Error(`${methodPath}: no descriptor among the server's proto files; add its .proto to protoFiles`);
    return desc.input;
  }
}

/** Throws INVALID_ARGUMENT naming the first string field (or map key) that is not valid text. */
export function checkRequestText(desc: DescMessage, request: unknown): void {
  if (request instanceof MalformedRequest) {
    throw new InvalidArgumentError("request", `is not a valid ${desc.typeName} message (${request.reason.slice(0, 200)})`);
  }
  if (typeof request !== "object" || request === null) return;
  const bad = repaired.get(request) ?? new Set<string>();
  walkMessage(desc, request as Record<string, unknown>, "", bad);
}

function problemOf(text: string, bad: ReadonlySet<string>): string | undefined {
  if (text.includes("\u0000")) return "contains a NUL character (U+0000), which text may not contain";
  if (bad.has(text)) return "is not valid UTF-8";
  return undefined;
}

function checkString(text: unknown, path: string, bad: ReadonlySet<string>): void {
  if (typeof text !== "string") return;
  const problem = problemOf(text, bad);
  if (problem) throw new InvalidArgumentError(path, problem);
}

function join(path: string, name: string): string {
  return path === "" ? name : `${path}.${name}`;
}

function walkMessage(desc: DescMessage, message: Record<string, unknown>, path: string, bad: ReadonlySet<string>): void {
  for (const field of desc.fields) {
    const fieldPath = join(path, field.name);
    if (field.oneof) {
      // ts-proto `oneof=unions-value`: { $case: "<field localName>", value }.
      const union = message[field.oneof.localName] as { $case?: string; value?: unknown } | undefined;
      if (union?.$case === field.localName) walkField(field, union.value, fieldPath, bad);
      continue;
    }
    walkField(field, message[field.localName], fieldPath, bad);
  }
}

function walkField(field: DescField, value: unknown, path: string, bad: ReadonlySet<string>): void {
  if (value === undefined || value === null) return;
  switch (field.fieldKind) {
    case "scalar":
      if (field.scalar === ScalarType.STRING) checkString(value, path, bad);
      return;
    case "enum":
      return;
    case "message":
      walkNested(field.message, value, path, bad);
      return;
    case "list":
      if (!Array.isArray(value)) return;
      value.forEach((item, i) => {
        if (field.listKind === "scalar" && field.scalar === ScalarType.STRING) checkString(item, `${path}[${i}]`, bad);
        else if (field.listKind === "message") walkNested(field.message, item, `${path}[${i}]`, bad);
      });
      return;
    case "map":
      if (typeof value !== "object") return;
      for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
        const keyProblem = field.mapKey === ScalarType.STRING ? problemOf(key, bad) : undefined;
        if (keyProblem) throw new InvalidArgumentError(path, `a key ${keyProblem}`);
        const itemPath = `${path}[${JSON.stringify(key)}]`;
        if (field.mapKind === "scalar" && field.scalar === ScalarType.STRING) checkString(item, itemPath, bad);
        else if (field.mapKind === "message") walkNested(field.message, item, itemPath, bad);
      }
      return;
  }
}

/**
 * A nested message. ts-proto maps some well-known types to plain JS values (Timestamp → Date,
 * StringValue → string, FieldMask → string[], Struct → object), so those are scanned for strings as
 * they come rather than by descriptor.
 */
function walkNested(desc: DescMessage, value: unknown, path: string, bad: ReadonlySet<string>): void {
  if (desc.typeName.startsWith("google.protobuf.")) {
    scanAny(value, path, bad, 0);
    return;
  }
  if (typeof value === "object" && value !== null && !Array.isArray(value)) walkMessage(desc, value as Record<string, unknown>, path, bad);
}

function scanAny(value: unknown, path: string, bad: ReadonlySet<string>, depth: number): void {
  if (depth > 64) return; // the protobuf decoder bounds nesting already; this only keeps the walk finite
  if (typeof value === "string") return checkString(value, path, bad);
  if (Array.isArray(value)) return value.forEach((item, i) => scanAny(item, `${path}[${i}]`, bad, depth + 1));
  if (typeof value !== "object" || value === null || value instanceof Date || ArrayBuffer.isView(value)) return;
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    const keyProblem = problemOf(key, bad);
    if (keyProblem) throw new InvalidArgumentError(path, `a key ${keyProblem}`);
    scanAny(item, `${path}[${JSON.stringify(key)}]`, bad, depth + 1);
  }
}
