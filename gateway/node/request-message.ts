import { ScalarType, fromJson, type DescField, type DescMessage, type JsonObject, type JsonValue, type Message, type Registry } from "@bufbuild/protobuf";
import { invalidArgument } from "./errors.js";

/**
 * Builds an RPC's request message from a REST call the way google.api.http describes: path variables set
 * (nested) fields, the body fills the whole request (`body: "*"`) or one field, and every other field may
 * come from query parameters. Everything is first gathered as proto3 JSON guided by the field descriptors,
 * then handed to `fromJson`, so one set of conversion rules (enums by name or number, 64-bit ints as
 * strings, Timestamps...) applies everywhere. Each failure is a 400 INVALID_ARGUMENT naming the field.
 */

export interface RequestParts {
  /** Path variables by dotted field path, already URL-decoded. */
  pathVariables: ReadonlyMap<string, string>;
  query: URLSearchParams;
  /** The parsed JSON body; undefined when there was none (or the binding takes none). */
  body: JsonValue | undefined;
}

export function buildRequestMessage(input: DescMessage, bodyField: string, parts: RequestParts, registry: Registry): Message {
  const json: JsonObject = {};
  let boundByBody: DescField | undefined;

  if (bodyField === "*") {
    // No body is an empty request; a body of `null` is not an object.
    const body = parts.body === undefined ? {} : parts.body;
    if (!isObject(body)) throw invalidArgument(`invalid request body: expected a JSON object, got ${describeJson(body)}`);
    checkJson(input, body, "invalid request body", registry);
    checkStrict(input, body, "");
    Object.assign(json, body);
  } else if (bodyField !== "") {
    boundByBody = resolveFieldPath(input, bodyField).at(-1)!;
    if (parts.body !== undefined) {
      checkJson(input, { [boundByBody.jsonName]: parts.body }, "invalid request body", registry);
      checkStrict(input, { [boundByBody.jsonName]: parts.body }, "");
      json[boundByBody.jsonName] = parts.body;
    }
  }

  for (const [path, text] of parts.pathVariables) {
    const fields = resolveFieldPath(input, path);
    const value = textToJson(fields.at(-1)!, [text], `path variable "${path}"`);
    checkLeaf(fields, value, `invalid path variable "${path}"`, registry);
    checkStrictValue(fields.at(-1)!, value, path, false);
    setNested(json, fields, value, path);
  }

  const queryKeys = [...new Set(parts.query.keys())];
  if (bodyField === "*" && queryKeys.length > 0) {
    throw invalidArgument(`query parameter "${queryKeys[0]}" is not allowed: the request body carries the whole request`, queryKeys[0]);
  }
  for (const key of queryKeys) {
    const fields = queryFieldPath(input, key);
    const protoPath = fields.map((f) => f.name).join(".");
    if (boundByBody && fields[0] === boundByBody) {
      throw invalidArgument(`query parameter "${key}" sets field "${protoPath}", which the request body carries`, protoPath);
    }
    for (const bound of parts.pathVariables.keys()) {
      if (bound === protoPath || bound.startsWith(`${protoPath}.`) || protoPath.startsWith(`${bound}.`)) {
        throw invalidArgument(`query parameter "${key}" sets field "${protoPath}", which the path already sets`, protoPath);
      }
    }
    const value = textToJson(fields.at(-1)!, parts.query.getAll(key), `query parameter "${key}"`);
    checkLeaf(fields, value, `invalid query parameter "${key}"`, registry);
    checkStrictValue(fields.at(-1)!, value, protoPath, false);
    setNested(json, fields, value, protoPath);
  }

  try {
    return fromJson(input, json, { registry });
  } catch (err) {
    // Every part was checked on its own; what is left is an interplay, e.g. two members of one oneof.
    throw invalidArgument(`invalid request: ${cleanMessage(err)}`);
  }
}

/**
 * The fields a dotted path (proto names, as in templates and `body`) leads through. Checked when routes are
 * built, so a template naming a field that does not exist fails at start-up rather than per request.
 */
export function resolveFieldPath(input: DescMessage, path: string): DescField[] {
  const fields: DescField[] = [];
  let message: DescMessage | undefined = input;
  for (const name of path.split(".")) {
    const field: DescField | undefined = message?.fields.find((f) => f.name === name);
    if (!field) throw new Error(`${input.typeName} has no field ${JSON.stringify(path)}`);
    fields.push(field);
    message = field.fieldKind === "message" ? field.message : undefined;
  }
  return fields;
}

/** Resolves `filter.tags` / `pageSize` / `page_size`: each step by proto name or lowerCamel JSON name. */
function queryFieldPath(input: DescMessage, key: string): DescField[] {
  const fields: DescField[] = [];
  let message = input;
  const steps = key.split(".");
  for (const [i, step] of steps.entries()) {
    const field = findField(message, step);
    const seen = steps.slice(0, i + 1).join(".");
    if (!field) throw invalidArgument(`invalid query parameter "${key}": unknown field "${seen}"`, seen);
    fields.push(field);
    if (i === steps.length - 1) break;
    if (field.fieldKind !== "message" || isWellKnown(field.message)) {
      throw invalidArgument(`invalid query parameter "${key}": field "${seen}" has no sub-fields`, seen);
    }
    message = field.message;
  }
  return fields;
}

function findField(message: DescMessage, name: string): DescField | undefined {
  return message.fields.find((f) => f.name === name || f.jsonName === name);
}

/** Turns the text of a path variable or query parameter (repeated once per value) into the field's JSON. */
function textToJson(field: DescField, values: string[], what: string): JsonValue {
  const leafName = field.name;
  const one = (text: string): JsonValue => {
    switch (field.fieldKind) {
      case "scalar":
        return scalarText(field.scalar, text, what);
      case "enum":
        return enumText(text);
      case "list":
        if (field.listKind === "scalar") return scalarText(field.scalar, text, what);
        if (field.listKind === "enum") return enumText(text);
        return wellKnownText(field.message, text, what);
      case "message":
        return wellKnownText(field.message, text, what);
      case "map":
        throw invalidArgument(`${what}: map field "${leafName}" cannot be set from the URL`, leafName);
    }
  };
  if (field.fieldKind === "list") return values.map(one);
  if (values.length > 1) throw invalidArgument(`${what}: field "${leafName}" is not repeated but was given ${values.length} times`, leafName);
  return one(values[0]);
}

function scalarText(type: ScalarType, text: string, what: string): JsonValue {
  if (type !== ScalarType.BOOL) return text; // proto3 JSON accepts numbers (and 64-bit ints) as strings
  if (text === "true" || text === "1") return true;
  if (text === "false" || text === "0") return false;
  throw invalidArgument(`${what}: expected true or false, got ${JSON.stringify(text)}`);
}

function enumText(text: string): JsonValue {
  return /^-?\d+$/.test(text) ? Number(text) : text;
}

/** Message fields settable from text: those whose proto3 JSON form is a string or a scalar. */
function wellKnownText(message: DescMessage, text: string, what: string): JsonValue {
  switch (message.typeName) {
    case "google.protobuf.Timestamp":
    case "google.protobuf.Duration":
    case "google.protobuf.FieldMask":
      return text;
  }
  const wrapped = message.typeName.startsWith("google.protobuf.") && message.typeName.endsWith("Value") ? message.fields.find((f) => f.name === "value") : undefined;
  if (wrapped?.fieldKind === "scalar") return scalarText(wrapped.scalar, text, what);
  throw invalidArgument(`${what}: ${message.typeName} cannot be given as text; set its fields one by one`);
}

/** Validates one converted leaf against its parent message, so the error names the parameter. */
function checkLeaf(fields: DescField[], value: JsonValue, context: string, registry: Registry): void {
  const leaf = fields.at(-1)!;
  try {
    fromJson(leaf.parent, { [leaf.jsonName]: value }, { registry });
  } catch (err) {
    const name = fields.map((f) => f.name).join(".");
    throw invalidArgument(`${context}: field "${name}": ${cleanMessage(err)}`, name);
  }
}

/** Sets `fields` in `json`, creating parents; a value the body already gave must agree with the path's. */
function setNested(json: JsonObject, fields: DescField[], value: JsonValue, path: string): void {
  let obj = json;
  for (const field of fields.slice(0, -1)) {
    const key = keyFor(obj, field);
    const next = obj[key];
    if (next === undefined || next === null) obj[key] = {};
    else if (!isObject(next)) throw invalidArgument(`field "${path}": "${field.name}" must be an object`, path);
    obj = obj[key] as JsonObject;
  }
  const leaf = fields.at(-1)!;
  const key = keyFor(obj, leaf);
  const existing = obj[key];
  if (existing !== undefined && existing !== null && String(existing) !== String(value)) {
    throw invalidArgument(`field "${path}" is ${JSON.stringify(existing)} in the request body but ${JSON.stringify(value)} in the path`, path);
  }
  obj[key] = value;
}

/** The key a field already has in client JSON (either naming is accepted), else its lowerCamel name. */
function keyFor(obj: JsonObject, field: DescField): string {
  if (field.name in obj) return field.name;
  return field.jsonName;
}

/** Throws an INVALID_ARGUMENT naming the innermost offending field when `json` does not decode. */
function checkJson(schema: DescMessage, json: JsonObject, context: string, registry: Registry): void {
  try {
    fromJson(schema, json, { registry });
    return;
  } catch (err) {
    const problem = locate(schema, json, "", registry) ?? { text: cleanMessage(err) };
    throw invalidArgument(`${context}: ${problem.text}`, problem.field);
  }
}

/**
 * Where proto3 JSON is more lenient than the OpenAPI document, the body is held to the document: `null` is
 * refused except for the types whose JSON form is null-able (wrappers, Value), and an enum given by number
 * must be one of the enum's values (proto3 enums are open, so a decoder keeps any number).
 */
function checkStrict(message: DescMessage, json: JsonObject, prefix: string): void {
  for (const [key, value] of Object.entries(json)) {
    const field = findField(message, key);
    if (!field) continue; // checkJson reports unknown fields
    checkStrictValue(field, value, prefix ? `${prefix}.${field.name}` : field.name, false);
  }
}

function checkStrictValue(field: DescField, value: JsonValue, name: string, element: boolean): void {
  const kind = element ? (field.fieldKind === "list" ? field.listKind : field.fieldKind === "map" ? field.mapKind : field.fieldKind) : field.fieldKind;
  const message = kind === "message" ? field.message : undefined;
  if (value === null) {
    if (message && NULLABLE.has(message.typeName)) return;
    throw invalidArgument(`field "${name}": null is not a value here; leave the field out to have its default`, name);
  }
  if (!element && field.fieldKind === "list") {
    if (Array.isArray(value)) value.forEach((item, i) => checkStrictValue(field, item, `${name}[${i}]`, true));
    return;
  }
  if (!element && field.fieldKind === "map") {
    if (isObject(value)) for (const [k, item] of Object.entries(value)) checkStrictValue(field, item, `${name}[${JSON.stringify(k)}]`, true);
    return;
  }
  if (kind === "enum" && typeof value === "number" && field.enum && !field.enum.values.some((v) => v.number === value)) {
    throw invalidArgument(`field "${name}": ${value} is not a value of enum ${field.enum.typeName}`, name);
  }
  if (message && !isWellKnown(message) && isObject(value)) checkStrict(message, value, name);
}

/** Types whose proto3 JSON form includes null (a wrapper's null is "unset"; Value's null is NullValue). */
const NULLABLE = new Set([
  "google.protobuf.Value",
  "google.protobuf.DoubleValue",
  "google.protobuf.FloatValue",
  "google.protobuf.Int64Value",
  "google.protobuf.UInt64Value",
  "google.protobuf.Int32Value",
  "google.protobuf.UInt32Value",
  "google.protobuf.BoolValue",
  "google.protobuf.StringValue",
  "google.protobuf.BytesValue",
]);

interface Problem {
  field?: string;
  text: string;
}

/** Finds which key of `json` makes it fail to decode, descending into plain (not well-known) messages. */
function locate(schema: DescMessage, json: JsonValue, prefix: string, registry: Registry): Problem | undefined {
  if (!isObject(json)) {
    return { field: prefix || undefined, text: `${prefix ? `field "${prefix}": ` : ""}expected a JSON object, got ${describeJson(json)}` };
  }
  for (const [key, value] of Object.entries(json)) {
    const field = findField(schema, key);
    if (!field) {
      const written = prefix ? `${prefix}.${key}` : key;
      return { field: written, text: `unknown field "${written}"` };
    }
    let error: unknown;
    try {
      fromJson(schema, { [key]: value }, { registry });
      continue;
    } catch (err) {
      error = err;
    }
    const name = prefix ? `${prefix}.${field.name}` : field.name;
    const inner = locateInside(field, value, name, registry);
    return inner ?? { field: name, text: `field "${name}": ${cleanMessage(error)}` };
  }
  return undefined;
}

function locateInside(field: DescField, value: JsonValue, name: string, registry: Registry): Problem | undefined {
  if (field.fieldKind === "message" && !isWellKnown(field.message) && isObject(value)) {
    return locate(field.message, value, name, registry);
  }
  const element = field.fieldKind === "list" && field.listKind === "message" ? field.message : field.fieldKind === "map" && field.mapKind === "message" ? field.message : undefined;
  if (!element || isWellKnown(element)) return undefined;
  const entries: [string, JsonValue][] = Array.isArray(value) ? value.map((v, i) => [`[${i}]`, v]) : isObject(value) ? Object.entries(value).map(([k, v]) => [`[${JSON.stringify(k)}]`, v]) : [];
  for (const [suffix, item] of entries) {
    try {
      fromJson(element, item, { registry });
    } catch {
      return locate(element, item, `${name}${suffix}`, registry);
    }
  }
  return undefined;
}

/** google.protobuf types have their own JSON forms (RFC 3339 strings, Struct...), so are not descended into. */
function isWellKnown(message: DescMessage): boolean {
  return message.typeName.startsWith("google.protobuf.");
}

/** protobuf-es messages name the message type; the client wants to know the problem. */
export function cleanMessage(err: unknown): string {
  let text = err instanceof Error ? err.message : String(err);
  for (;;) {
    const field = /^cannot decode field [\w.]+ from JSON: ([\s\S]*)$/.exec(text);
    if (field) {
      text = field[1];
      continue;
    }
    const enumValue = /^cannot decode enum ([\w.]+) from JSON: ([\s\S]*)$/.exec(text);
    if (enumValue) return `${enumValue[2]} is not a value of enum ${enumValue[1]}`;
    const message = /^cannot decode message ([\w.]+) from JSON: ([\s\S]*)$/.exec(text);
    if (message) return `${message[2]} (${message[1]})`;
    return text;
  }
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describeJson(value: JsonValue): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return `a ${typeof value}`;
}
