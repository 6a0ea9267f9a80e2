import { PUBLIC, methodPermissions } from "#mesh/auth/permissions.js";
import { ScalarType, getOption, hasOption, toJson, type DescEnum, type DescExtension, type DescEnumValue, type DescField, type DescFile, type DescMessage, type DescMethod, type DescOneof, type DescService, type FileRegistry } from "@bufbuild/protobuf";
import { httpBindings, type HttpBinding } from "./http-rules.js";

// Builds the OpenAPI 3.1 description of everything the gateway serves, straight from the descriptor set, so
// the document cannot drift from the transcoder: both read the same google.api.http bindings.

export interface OpenApiOptions {
  title: string;
  version: string;
  /** Base URL of the gateway ("https://api.example.com" or a path such as "/"); omitted = same origin. */
  serverUrl?: string;
  /** Text shown above the operations. */
  description?: string;
  /**
   * RPCs that need no credential, as "Service.Method" or "package.Service.Method".
   * Default: those the permission table (mesh/auth/permissions.ts) marks public.
   */
  publicMethods?: string[];
}

type Schema = Record<string, unknown>;

const ERROR_SCHEMA = "Error";
const ERROR_RESPONSE = "Error";
const OPENAPI_VERBS = new Set(["GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"]);
/** Canonical gRPC status names by number; the gateway's error body carries both. */
const GRPC_CODES = [
  "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE",
  "DATA_LOSS", "UNAUTHENTICATED",
];

export function openApiDocument(registry: FileRegistry, opts: OpenApiOptions): object {
  checkOptions(opts);
  const bindings = httpBindings(registry);
  const schemas = new SchemaBuilder(registry);
  const labels = serviceLabels(bindings);
  const isPublic = opts.publicMethods ? publicMatcher(opts.publicMethods) : (m: DescMethod) => methodPermissions()[`/${m.parent.typeName}/${m.name}`] === PUBLIC;

  const paths: Record<string, Record<string, unknown>> = {};
  const owners = new Map<string, string>();
  const operationIds = new Set<string>();
  const tags = new Map<string, Schema>();
  for (const binding of bindings) {
    const rpc = rpcName(binding.method);
    const label = labels.get(binding.service)!;
    if (!OPENAPI_VERBS.has(binding.verb)) throw new Error(`${rpc}: HTTP verb "${binding.verb}" cannot be described in OpenAPI`);
    const route = convertTemplate(binding.template, rpc);
    const key = `${binding.verb} ${route.path}`;
    const owner = owners.get(key);
    if (owner) throw new Error(`${key} is bound by both ${owner} and ${rpc}`);
    owners.set(key, rpc);

    let operationId = `${label}_${binding.method.name}`;
    for (let n = 2; operationIds.has(operationId); n++) operationId = `${label}_${binding.method.name}_${n}`;
    operationIds.add(operationId);
    if (!tags.has(label)) tags.set(label, withText({ name: label }, comments(binding.service)));

    const operation = describeOperation(binding, route, rpc, operationId, label, schemas);
    if (isPublic(binding.method)) operation.security = [];
    (paths[route.path] ??= {})[binding.verb.toLowerCase()] = operation;
  }

  const componentSchemas = schemas.sorted({ [ERROR_SCHEMA]: errorSchema() });

  const tokenBinding = bindings.find((b) => b.method.name === "IssueToken" && b.service.name === "IdentityService");
  const doc: Schema = {
    openapi: "3.1.0",
    info: withText({ title: opts.title, version: opts.version }, opts.description ?? ""),
    ...(opts.serverUrl !== undefined ? { servers: [{ url: opts.serverUrl }] } : {}),
    tags: [...tags.values()],
    security: [{ bearerAuth: [] }, { apiKey: [] }],
    paths,
    components: {
      schemas: componentSchemas,
      responses: {
        [ERROR_RESPONSE]: {
          description: "The call failed. The HTTP status follows the gRPC status (INVALID_ARGUMENT 400, UNAUTHENTICATED 401, "
            + "PERMISSION_DENIED 403, NOT_FOUND 404, ALREADY_EXISTS and ABORTED 409, RESOURCE_EXHAUSTED 429, UNAVAILABLE 503, "
            + "DEADLINE_EXCEEDED 504, others 500).",
          content: { "application/json": { schema: { $ref: `#/components/schemas/${ERROR_SCHEMA}` } } },
        },
      },
      securitySchemes: {
        bearerAuth: {
          type: "http",
          scheme: "bearer",
          bearerFormat: "JWT",
          description: tokenBinding
            ? `A short-lived access token issued by ${tokenBinding.verb} ${convertTemplate(tokenBinding.template, "IssueToken").path} in exchange for an API key.`
            : "A short-lived JWT access token.",
        },
        apiKey: {
          type: "apiKey",
          in: "header",
          name: "X-API-Key",
          description: "An API key (`rag_...`). It is also accepted as `Authorization: Bearer rag_...`.",
        },
      },
    },
  };
  return doc;
}

function checkOptions(opts: OpenApiOptions): void {
  if (typeof opts.title !== "string" || !opts.title.trim()) throw new Error("openApiDocument: title must be a non-empty string");
  if (typeof opts.version !== "string" || !opts.version.trim()) throw new Error("openApiDocument: version must be a non-empty string");
  if (opts.serverUrl !== undefined && !/^(https?:\/\/[^\s/]+|\/)\S*$/.test(opts.serverUrl)) {
    throw new Error(`openApiDocument: serverUrl "${opts.serverUrl}" must be an http(s) URL or a path starting with "/"`);
  }
  for (const name of opts.publicMethods ?? []) {
    if (!/^[\w.]+\.\w+$/.test(name)) throw new Error(`openApiDocument: public method "${name}" must look like "Service.Method"`);
  }
}

function rpcName(method: DescMethod): string {
  return `${method.parent.typeName}.${method.name}`;
}

/** Tags and operationId prefixes use the service's short name unless two packages share it (e.g. rag.v1 beside rag.v2). */
function serviceLabels(bindings: HttpBinding[]): Map<DescService, string> {
  const byName = new Map<string, Set<DescService>>();
  for (const { service } of bindings) {
    const set = byName.get(service.name) ?? new Set();
    set.add(service);
    byName.set(service.name, set);
  }
  const labels = new Map<DescService, string>();
  for (const [name, services] of byName) for (const s of services) labels.set(s, services.size > 1 ? s.typeName : name);
  return labels;
}

function publicMatcher(names: string[]): (method: DescMethod) => boolean {
  const set = new Set(names);
  return (method) => set.has(`${method.parent.name}.${method.name}`) || set.has(rpcName(method));
}

// ---------------------------------------------------------------------------------------------------------------
// Path templates

interface PathVariable {
  /** The proto field path as written in the template ("document_id", "parent.name"). */
  fieldPath: string;
  /** The segment pattern after "=", when it is more than a single segment. */
  pattern?: string;
}

/** `/v1/{name=projects/*}/items:list` → `/v1/{name}/items:list`; the `:verb` stays literal. */
function convertTemplate(template: string, rpc: string): { path: string; variables: PathVariable[] } {
  if (!template.startsWith("/")) throw new Error(`${rpc}: path template "${template}" must start with "/"`);
  const variables: PathVariable[] = [];
  let path = "";
  for (let i = 0; i < template.length; ) {
    const open = template.indexOf("{", i);
    const literal = open < 0 ? template.slice(i) : template.slice(i, open);
    if (literal.includes("}")) throw new Error(`${rpc}: path template "${template}" has an unmatched "}"`);
    if (literal.split(/[/:]/).some((segment) => segment === "*" || segment === "**")) {
      throw new Error(`${rpc}: path template "${template}" has a wildcard outside a {variable}; it binds no field, so it cannot be documented`);
    }
    path += literal;
    if (open < 0) break;
    const close = template.indexOf("}", open);
    if (close < 0) throw new Error(`${rpc}: path template "${template}" has an unclosed "{"`);
    const inner = template.slice(open + 1, close);
    const eq = inner.indexOf("=");
    const fieldPath = eq < 0 ? inner : inner.slice(0, eq);
    const pattern = eq < 0 ? undefined : inner.slice(eq + 1);
    if (!/^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$/.test(fieldPath)) throw new Error(`${rpc}: path template "${template}" has a bad variable name "${fieldPath}"`);
    if (variables.some((v) => v.fieldPath === fieldPath)) throw new Error(`${rpc}: path template "${template}" binds "${fieldPath}" twice`);
    variables.push(pattern === undefined || pattern === "*" ? { fieldPath } : { fieldPath, pattern });
    path += `{${fieldPath}}`;
    i = close + 1;
  }
  return { path, variables };
}

/** Follows "a.b.c" (proto names) through the request message. */
function resolveFieldPath(message: DescMessage, fieldPath: string, rpc: string): DescField[] {
  const chain: DescField[] = [];
  let current: DescMessage | undefined = message;
  for (const name of fieldPath.split(".")) {
    const field: DescField | undefined = current?.fields.find((f) => f.name === name);
    if (!current || !field) throw new Error(`${rpc}: "${fieldPath}" is not a field path of ${message.typeName}`);
    chain.push(field);
    current = field.fieldKind === "message" ? field.message : undefined;
  }
  const last = chain[chain.length - 1];
  if (last.fieldKind !== "scalar" && last.fieldKind !== "enum") {
    throw new Error(`${rpc}: path variable "${fieldPath}" must name a scalar or enum field, not a ${last.fieldKind} field`);
  }
  return chain;
}

// ---------------------------------------------------------------------------------------------------------------
// Operations

function describeOperation(
  binding: HttpBinding,
  route: { path: string; variables: PathVariable[] },
  rpc: string,
  operationId: string,
  tag: string,
  schemas: SchemaBuilder,
): Schema {
  const { method } = binding;
  if (method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming") {
    throw new Error(`${rpc} is ${method.methodKind.replace("_", "-")}; the gateway serves only unary and server-streaming RPCs over HTTP`);
  }
  const text = comments(method);
  const operation: Schema = { operationId, tags: [tag], summary: summaryOf(text) || method.name };
  if (text) operation.description = text;
  if (method.deprecated) operation.deprecated = true;

  const parameters: Schema[] = [];
  const bound = new Set<string>();
  for (const variable of route.variables) {
    const chain = resolveFieldPath(method.input, variable.fieldPath, rpc);
    const field = chain[chain.length - 1];
    bound.add(variable.fieldPath);
    const notes = [comments(field)];
    if (variable.pattern) notes.push(`Matches \`${variable.pattern}\`; the value may contain "/".`);
    parameters.push(withText({ name: variable.fieldPath, in: "path", required: true, schema: schemas.field(field, false) }, notes.filter(Boolean).join("\n\n")));
  }

  const body = binding.body;
  if (body !== "" && body !== "*") {
    const field = method.input.fields.find((f) => f.name === body);
    if (!field) throw new Error(`${rpc}: body "${body}" is not a field of ${method.input.typeName}`);
    bound.add(body);
  }
  if (body !== "*") parameters.push(...queryParameters(method.input, "", "", bound, new Set([method.input.typeName]), schemas));
  if (parameters.length) operation.parameters = parameters;

  if (body === "*") {
    const schema = wholeBodySchema(method.input, route.variables, schemas);
    // Without a body the request is empty, which a message with required fields cannot be.
    const required = method.input.fields.some((f) => schemas.isRequired(f) && !route.variables.some((v) => v.fieldPath === f.name));
    operation.requestBody = { ...(required ? { required: true } : {}), content: { "application/json": { schema } } };
  } else if (body !== "") {
    const field = method.input.fields.find((f) => f.name === body)!;
    operation.requestBody = withText(
      { required: true, content: { "application/json": { schema: schemas.field(field, false) } } },
      comments(field),
    );
  }

  const payload = responseSchema(binding, rpc, schemas);
  const ok = method.methodKind === "server_streaming" ? streamingResponse(payload) : {
    description: "OK",
    content: { "application/json": { schema: payload } },
  };
  operation.responses = { "200": ok, default: { $ref: `#/components/responses/${ERROR_RESPONSE}` } };
  return operation;
}

/**
 * With `body: "*"` the path variables travel in the path; the body may repeat them but need not, so the documented
 * body leaves top-level path fields out rather than send readers two places to put one value.
 */
function wholeBodySchema(input: DescMessage, variables: PathVariable[], schemas: SchemaBuilder): Schema {
  const ref = schemas.message(input);
  const topLevel = new Set(variables.filter((v) => !v.fieldPath.includes(".")).map((v) => v.fieldPath));
  if (!topLevel.size) return ref;
  const full = schemas.component(input);
  const properties = { ...(full.properties as Record<string, Schema>) };
  for (const field of input.fields) if (topLevel.has(field.name)) delete properties[field.jsonName];
  const copy: Schema = { ...full, properties };
  const jsonNames = new Set(input.fields.filter((f) => topLevel.has(f.name)).map((f) => f.jsonName));
  if (Array.isArray(full.required)) {
    const required = (full.required as string[]).filter((n) => !jsonNames.has(n));
    if (required.length) copy.required = required;
    else delete copy.required;
  }
  copy.description = [full.description, `Path fields (${[...topLevel].map((n) => `\`${n}\``).join(", ")}) are taken from the URL.`]
    .filter(Boolean).join("\n\n");
  return copy;
}

/** Fields the gateway reads from the query string: scalars, enums, repeated scalars/enums, nested messages by dotted name. */
function queryParameters(
  message: DescMessage,
  protoPrefix: string,
  jsonPrefix: string,
  bound: Set<string>,
  stack: Set<string>,
  schemas: SchemaBuilder,
): Schema[] {
  const out: Schema[] = [];
  for (const field of message.fields) {
    const protoPath = protoPrefix + field.name;
    if (bound.has(protoPath)) continue;
    const name = jsonPrefix + field.jsonName;
    const param = (schema: Schema): Schema => {
      const p: Schema = withText({ name, in: "query", schema }, comments(field));
      if (protoPrefix === "" && schemas.isRequired(field)) p.required = true;
      if (field.deprecated) p.deprecated = true;
      return p;
    };
    switch (field.fieldKind) {
      case "scalar":
      case "enum":
        out.push(param(schemas.field(field, false)));
        break;
      case "list":
        if (field.listKind !== "message") out.push({ ...param(schemas.field(field, false)), style: "form", explode: true });
        break;
      case "message": {
        const wkt = queryableWellKnown(field.message.typeName);
        if (wkt) {
          out.push(param(schemas.field(field, false)));
        } else if (!isWellKnown(field.message.typeName) && !stack.has(field.message.typeName)) {
          // A message that contains itself would give endless names; its first level is enough.
          stack.add(field.message.typeName);
          out.push(...queryParameters(field.message, `${protoPath}.`, `${name}.`, bound, stack, schemas));
          stack.delete(field.message.typeName);
        }
        break;
      }
      case "map":
        // The query string has no way to spell map entries; such fields can only be set through a body.
        break;
    }
  }
  return out;
}

function responseSchema(binding: HttpBinding, rpc: string, schemas: SchemaBuilder): Schema {
  const { method, responseBody } = binding;
  if (responseBody === "") return schemas.message(method.output);
  const field = method.output.fields.find((f) => f.name === responseBody);
  if (!field) throw new Error(`${rpc}: response_body "${responseBody}" is not a field of ${method.output.typeName}`);
  return schemas.field(field, true);
}

function streamingResponse(message: Schema): Schema {
  const errorRef = { $ref: `#/components/schemas/${ERROR_SCHEMA}` };
  return {
    description: [
      "A stream of messages, each in the schema below. The framing depends on the `Accept` header:",
      "",
      "- `text/event-stream` (default, Server-Sent Events): each message is an event `id: <n>` / `data: <message json>`; "
        + "a failure after the first message is an `event: error` whose data is the error JSON; the stream ends with `event: end` "
        + "(data `{}`). A failure before the first message is an ordinary JSON error response.",
      "- `application/x-ndjson`: one JSON object per line, `{\"result\": <message>}` for each message or `{\"error\": <error>}` "
        + "for a failure, after which the stream ends.",
    ].join("\n"),
    content: {
      "text/event-stream": { schema: message },
      "application/x-ndjson": {
        schema: {
          oneOf: [
            { type: "object", required: ["result"], properties: { result: message }, additionalProperties: false },
            { type: "object", required: ["error"], properties: { error: errorRef }, additionalProperties: false },
          ],
        },
      },
    },
  };
}

function errorSchema(): Schema {
  return {
    type: "object",
    description: "The error body of every failed call.",
    required: ["code", "status", "message"],
    properties: {
      code: { type: "integer", format: "int32", minimum: 1, maximum: 16, description: "The gRPC status code, e.g. 5 for NOT_FOUND." },
      status: { type: "string", enum: GRPC_CODES.slice(1), description: "The gRPC status code's name." },
      message: { type: "string", description: "What went wrong, naming the offending field when there is one." },
      details: {
        type: "array",
        description: "Structured details, e.g. `{\"field\": \"title\"}` naming the field that was rejected.",
        items: { type: "object", additionalProperties: true },
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Schemas in the proto3 JSON mapping

const WRAPPERS: Record<string, Schema> = {
  "google.protobuf.DoubleValue": { type: ["number", "null"], format: "double" },
  "google.protobuf.FloatValue": { type: ["number", "null"], format: "float" },
  "google.protobuf.Int64Value": { type: ["string", "null"], format: "int64" },
  "google.protobuf.UInt64Value": { type: ["string", "null"], format: "int64" },
  "google.protobuf.Int32Value": { type: ["integer", "null"], format: "int32" },
  "google.protobuf.UInt32Value": { type: ["integer", "null"], minimum: 0, maximum: 4294967295 },
  "google.protobuf.BoolValue": { type: ["boolean", "null"] },
  "google.protobuf.StringValue": { type: ["string", "null"] },
  "google.protobuf.BytesValue": { type: ["string", "null"], format: "byte", contentEncoding: "base64" },
};

/** Well-known types whose JSON form is a single string or number, so they also work as query parameters. */
function queryableWellKnown(typeName: string): Schema | undefined {
  switch (typeName) {
    case "google.protobuf.Timestamp":
      return { type: "string", format: "date-time" };
    case "google.protobuf.Duration":
      return {
        type: "string",
        pattern: "^-?[0-9]+(\\.[0-9]{1,9})?s$",
        examples: ["1.5s"],
        description: "A duration in seconds with an `s` suffix, e.g. `1.5s`.",
      };
    case "google.protobuf.FieldMask":
      return { type: "string", description: "Comma-separated field paths in lowerCamelCase, e.g. `title,sourceUri`." };
    default:
      return WRAPPERS[typeName] ? { ...WRAPPERS[typeName] } : undefined;
  }
}

function wellKnownSchema(typeName: string): Schema | undefined {
  const scalar = queryableWellKnown(typeName);
  if (scalar) return scalar;
  switch (typeName) {
    case "google.protobuf.Struct":
      return { type: "object", additionalProperties: true, description: "Any JSON object." };
    case "google.protobuf.Value":
      return { description: "Any JSON value." };
    case "google.protobuf.ListValue":
      return { type: "array", items: {}, description: "Any JSON array." };
    case "google.protobuf.Empty":
      return { type: "object", properties: {}, additionalProperties: false };
    case "google.protobuf.Any":
      return {
        type: "object",
        required: ["@type"],
        properties: { "@type": { type: "string", description: "The type URL, e.g. `type.googleapis.com/rag.v1.Document`." } },
        additionalProperties: true,
        description: "A message of any type: its JSON fields beside `@type`.",
      };
    default:
      return undefined;
  }
}

function isWellKnown(typeName: string): boolean {
  return wellKnownSchema(typeName) !== undefined;
}

function scalarSchema(scalar: ScalarType): Schema {
  switch (scalar) {
    case ScalarType.DOUBLE:
      return { type: "number", format: "double" };
    case ScalarType.FLOAT:
      return { type: "number", format: "float", minimum: -FLOAT_MAX, maximum: FLOAT_MAX };
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return { type: "integer", format: "int32", minimum: -2147483648, maximum: 2147483647 };
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return { type: "integer", minimum: 0, maximum: 4294967295 };
    // 64-bit integers do not fit a JavaScript number, so the proto3 JSON mapping writes them as decimal strings.
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return { type: "string", format: "int64", pattern: INT64_PATTERN };
    case ScalarType.BOOL:
      return { type: "boolean" };
    case ScalarType.STRING:
      return { type: "string" };
    case ScalarType.BYTES:
      return { type: "string", format: "byte", contentEncoding: "base64" };
  }
}

/** Decimal digits of a 64-bit integer; up to 18 digits, so every value the pattern allows fits. */
const INT64_PATTERN = "^-?[0-9]{1,18}$";
const FLOAT_MAX = 3.4028234663852886e38;

/** Map keys are JSON object keys, i.e. always strings; say which strings. */
function mapKeySchema(key: ScalarType): Schema | undefined {
  switch (key) {
    case ScalarType.STRING:
      return undefined;
    case ScalarType.BOOL:
      return { enum: ["true", "false"] };
    default:
      return { pattern: "^-?[0-9]+$" };
  }
}

/**
 * The constraints a request field carries in the contract: `(google.api.field_behavior) = REQUIRED` and
 * protoc-gen-validate's `(validate.rules)` (proto/validate/validate.proto). Each service enforces them
 * (its validate.ts), and this document states them, so the two cannot be read from different places.
 */
interface FieldRulesJson {
  [kind: string]: Record<string, unknown> | undefined;
}

class Constraints {
  private readonly behavior?: DescExtension;
  private readonly rules?: DescExtension;

  constructor(registry: FileRegistry) {
    this.behavior = registry.getExtension("google.api.field_behavior");
    this.rules = registry.getExtension("validate.rules");
  }

  required(field: DescField): boolean {
    if (this.behavior && hasOption(field, this.behavior)) {
      const values = getOption(field, this.behavior) as unknown as number[];
      if (values.includes(2)) return true; // google.api.FieldBehavior.REQUIRED
    }
    return this.rulesOf(field)?.message?.required === true;
  }

  rulesOf(field: DescField): FieldRulesJson | undefined {
    if (!this.rules || !hasOption(field, this.rules)) return undefined;
    const value = getOption(field, this.rules);
    return toJson(this.rules.message!, value as never) as FieldRulesJson;
  }

  oneofRequired(oneof: DescOneof, registry: FileRegistry): boolean {
    const ext = registry.getExtension("validate.required");
    return !!ext && ext.extendee.typeName === "google.protobuf.OneofOptions" && hasOption(oneof, ext) && getOption(oneof, ext) === true;
  }
}

const num = (v: unknown): number | undefined => (v === undefined ? undefined : Number(v));

/** JSON Schema keywords for a scalar's rules (strings, numbers). */
function scalarRules(base: Schema, kind: string, r: Record<string, unknown>): Schema {
  const out: Schema = { ...base };
  if (kind === "string") {
    if (r.minLen !== undefined) out.minLength = num(r.minLen);
    if (r.maxLen !== undefined) out.maxLength = num(r.maxLen);
    if (r.len !== undefined) out.minLength = out.maxLength = num(r.len);
    if (typeof r.pattern === "string") out.pattern = r.pattern;
    if (Array.isArray(r.in)) out.enum = r.in;
    if (r.const !== undefined) out.const = r.const;
    for (const format of ["uuid", "uri", "email", "hostname", "ipv4", "ipv6"]) if (r[format] === true) out.format = format;
    if (r.uriRef === true) out.format = "uri-reference";
    return out;
  }
  if (kind === "bytes") {
    // Base64 in JSON: n bytes are 4*ceil(n/3) characters.
    if (r.maxLen !== undefined) out.maxLength = 4 * Math.ceil(Number(r.maxLen) / 3);
    if (r.minLen !== undefined && Number(r.minLen) > 0) out.minLength = 4 * Math.ceil(Number(r.minLen) / 3);
    return out;
  }
  if (out.type === "string") {
    // 64-bit integers travel as strings: only "not negative" can be said, by the pattern.
    if (r.gte !== undefined && Number(r.gte) >= 0) out.pattern = "^[0-9]{1,18}$";
    return out;
  }
  if (r.gte !== undefined) out.minimum = num(r.gte);
  if (r.lte !== undefined) out.maximum = num(r.lte);
  if (r.gt !== undefined) {
    out.exclusiveMinimum = num(r.gt);
    delete out.minimum;
  }
  if (r.lt !== undefined) {
    out.exclusiveMaximum = num(r.lt);
    delete out.maximum;
  }
  if (Array.isArray(r.in)) out.enum = r.in.map(Number);
  if (r.const !== undefined) out.const = num(r.const);
  return out;
}

class SchemaBuilder {
  private readonly components = new Map<string, Schema>();
  private readonly constraints: Constraints;

  constructor(private readonly registry: FileRegistry) {
    this.constraints = new Constraints(registry);
  }

  isRequired(field: DescField): boolean {
    return this.constraints.required(field);
  }

  /** The field's own schema narrowed by its rules (REQUIRED means: set, i.e. not the empty value). */
  private constrained(field: DescField, schema: Schema): Schema {
    const rules = this.constraints.rulesOf(field) ?? {};
    const required = this.constraints.required(field);
    switch (field.fieldKind) {
      case "scalar": {
        const kind = Object.keys(rules).find((k) => k !== "message");
        let out = kind ? scalarRules(schema, kind, rules[kind]!) : schema;
        if (required && field.scalar === ScalarType.STRING && out.minLength === undefined) out = { ...out, minLength: 1 };
        return out;
      }
      case "enum":
        return this.enumConstrained(field.enum, rules.enum, required) ?? schema;
      case "list": {
        const out: Schema = { ...schema };
        const r = rules.repeated ?? {};
        if (r.minItems !== undefined) out.minItems = num(r.minItems);
        else if (required) out.minItems = 1;
        if (r.maxItems !== undefined) out.maxItems = num(r.maxItems);
        if (r.unique === true) out.uniqueItems = true;
        const items = r.items as FieldRulesJson | undefined;
        if (items) out.items = this.elementRules(field.listKind === "enum" ? field.enum : undefined, out.items as Schema, items);
        return out;
      }
      case "map": {
        const out: Schema = { ...schema };
        const r = rules.map ?? {};
        if (r.minPairs !== undefined) out.minProperties = num(r.minPairs);
        if (r.maxPairs !== undefined) out.maxProperties = num(r.maxPairs);
        const keys = r.keys as FieldRulesJson | undefined;
        if (keys?.string) out.propertyNames = scalarRules({ ...(out.propertyNames as Schema | undefined) }, "string", keys.string);
        const values = r.values as FieldRulesJson | undefined;
        if (values) out.additionalProperties = this.elementRules(field.mapKind === "enum" ? field.enum : undefined, out.additionalProperties as Schema, values);
        return out;
      }
      default:
        return schema;
    }
  }

  /**
   * An update mask names fields of its own request: those that are not REQUIRED (the resource's id) and not
   * preconditions (`expected_*`), in lowerCamelCase, comma-separated.
   */
  private maskPaths(mask: DescField): Schema {
    const names = mask.parent.fields
      .filter((f) => f !== mask && !this.constraints.required(f) && !f.name.startsWith("expected_"))
      .map((f) => f.jsonName);
    if (!names.length) return {};
    // As the services read it: comma-separated, each path trimmed, empty entries ignored.
    const one = `\\s*(${names.join("|")})?\\s*`;
    return { pattern: `^${one}(,${one})*$` };
  }

  private elementRules(enumDesc: DescEnum | undefined, base: Schema, rules: FieldRulesJson): Schema {
    if (enumDesc) return this.enumConstrained(enumDesc, rules.enum, false) ?? base;
    const kind = Object.keys(rules).find((k) => k !== "message");
    return kind ? scalarRules(base, kind, rules[kind]!) : base;
  }

  /** An enum limited to some of its values (`in`, `not_in`, REQUIRED excludes the zero value), inline. */
  private enumConstrained(desc: DescEnum, r: Record<string, unknown> | undefined, required: boolean): Schema | undefined {
    const inList = Array.isArray(r?.in) ? new Set((r!.in as unknown[]).map(Number)) : undefined;
    const notIn = new Set(Array.isArray(r?.notIn) ? (r!.notIn as unknown[]).map(Number) : []);
    if (required) notIn.add(0);
    if (!inList && notIn.size === 0) return undefined;
    const allowed = desc.values.filter((v) => (!inList || inList.has(v.number)) && !notIn.has(v.number));
    const names = allowed.map((v) => `\`${v.name}\``).join(", ");
    return { type: ["string", "integer"], enum: enumValues(allowed), description: `One of ${names} (see \`${desc.typeName}\`), by name or number.` };
  }

  /** A reference to the message's component, or the inline form of a well-known type. */
  message(message: DescMessage): Schema {
    const wkt = wellKnownSchema(message.typeName);
    if (wkt) return wkt;
    this.component(message);
    return { $ref: `#/components/schemas/${message.typeName}` };
  }

  enumRef(desc: DescEnum): Schema {
    if (desc.typeName === "google.protobuf.NullValue") return { type: "null" };
    if (!this.components.has(desc.typeName)) this.components.set(desc.typeName, enumSchema(desc));
    return { $ref: `#/components/schemas/${desc.typeName}` };
  }

  /** The message's component schema, built (with everything it reaches) on first use. */
  component(message: DescMessage): Schema {
    const existing = this.components.get(message.typeName);
    if (existing) return existing;
    const schema: Schema = { type: "object" };
    // Registered before its fields are built, so a message that contains itself ends in a $ref, not a loop.
    this.components.set(message.typeName, schema);
    const properties: Record<string, Schema> = {};
    for (const field of message.fields) properties[field.jsonName] = this.field(field, true);
    const notes = [comments(message), ...message.oneofs.map(oneofNote)].filter(Boolean);
    if (notes.length) schema.description = notes.join("\n\n");
    schema.properties = properties;
    const required = message.fields.filter((f) => this.constraints.required(f)).map((f) => f.jsonName);
    if (required.length) schema.required = required;
    // The gateway refuses fields a message does not have.
    schema.additionalProperties = false;
    const oneofRules: Schema[] = [];
    for (const oneof of message.oneofs) {
      if (oneof.kind !== "oneof" || oneof.fields.length === 0) continue;
      const names = oneof.fields.map((f) => f.jsonName);
      if (this.constraints.oneofRequired(oneof, this.registry)) {
        oneofRules.push({ oneOf: names.map((n) => ({ required: [n] })) });
      } else if (names.length > 1) {
        const pairs: Schema[] = [];
        for (let i = 0; i < names.length; i++) for (let j = i + 1; j < names.length; j++) pairs.push({ required: [names[i], names[j]] });
        oneofRules.push({ not: { anyOf: pairs } });
      }
    }
    if (oneofRules.length === 1) Object.assign(schema, oneofRules[0]);
    else if (oneofRules.length > 1) schema.allOf = oneofRules;
    if (message.deprecated) schema.deprecated = true;
    return schema;
  }

  /** A field's JSON schema; `documented` adds its comment, oneof membership and deprecation (parameters carry those themselves). */
  field(field: DescField, documented: boolean): Schema {
    let schema: Schema;
    switch (field.fieldKind) {
      case "scalar":
        schema = scalarSchema(field.scalar);
        break;
      case "enum":
        schema = this.enumRef(field.enum);
        break;
      case "message":
        schema = this.message(field.message);
        break;
      case "list":
        schema = { type: "array", items: this.element(field) };
        break;
      case "map": {
        schema = { type: "object", additionalProperties: this.element(field) };
        const keys = mapKeySchema(field.mapKey);
        if (keys) schema.propertyNames = keys;
        break;
      }
    }
    schema = this.constrained(field, schema);
    if (field.fieldKind === "message" && field.message.typeName === "google.protobuf.FieldMask") schema = { ...schema, ...this.maskPaths(field) };
    if (!documented) return schema;
    const text = [field.oneof ? `Part of oneof \`${field.oneof.name}\`: at most one of its fields is set.` : "", comments(field), schema.description as string | undefined]
      .filter(Boolean).join("\n\n");
    const out: Schema = { ...schema };
    if (text) out.description = text;
    if (field.deprecated) out.deprecated = true;
    return out;
  }

  private element(field: DescField & { fieldKind: "list" | "map" }): Schema {
    const kind = field.fieldKind === "list" ? field.listKind : field.mapKind;
    if (kind === "message") return this.message(field.message!);
    if (kind === "enum") return this.enumRef(field.enum!);
    return scalarSchema(field.scalar!);
  }

  /** Components plus `extra` in name order, so the same descriptors always give byte-identical JSON. */
  sorted(extra: Record<string, Schema>): Record<string, Schema> {
    const all = new Map(this.components);
    for (const [name, schema] of Object.entries(extra)) {
      if (all.has(name)) throw new Error(`the proto type "${name}" collides with the gateway's own schema of that name`);
      all.set(name, schema);
    }
    const out: Record<string, Schema> = {};
    for (const name of [...all.keys()].sort()) out[name] = all.get(name)!;
    return out;
  }
}

function enumSchema(desc: DescEnum): Schema {
  const lines = desc.values.map((v) => {
    const text = comments(v).replace(/\s*\n\s*/g, " ");
    return `- \`${v.name}\`${v.deprecated ? " (deprecated)" : ""}${text ? `: ${text}` : ""}`;
  });
  const schema: Schema = {
    type: ["string", "integer"],
    enum: enumValues(desc.values),
    description: [comments(desc), lines.join("\n"), "In requests a value may also be given by its number; responses name it."].filter(Boolean).join("\n\n"),
  };
  if (desc.deprecated) schema.deprecated = true;
  return schema;
}

/** An enum's values in JSON: by name (as responses write them) or by number (accepted in requests). */
function enumValues(values: readonly DescEnumValue[]): (string | number)[] {
  return [...values.map((v) => v.name), ...values.map((v) => v.number)];
}

function oneofNote(oneof: DescOneof): string {
  const names = oneof.fields.map((f) => `\`${f.jsonName}\``).join(", ");
  return [`Oneof \`${oneof.name}\`: at most one of ${names} is set.`, comments(oneof)].filter(Boolean).join(" ");
}

// ---------------------------------------------------------------------------------------------------------------
// Comments from the descriptor set's source info

type Commented = DescService | DescMethod | DescMessage | DescField | DescOneof | DescEnum | DescEnumValue;

const locationCache = new WeakMap<DescFile, Map<string, { leading: string; trailing: string }>>();

/** The element's leading (and trailing) comment with the comment markers' spacing removed; "" when it has none. */
function comments(desc: Commented): string {
  const file = fileOf(desc);
  let locations = locationCache.get(file);
  if (!locations) {
    locations = new Map();
    for (const loc of file.proto.sourceCodeInfo?.location ?? []) {
      locations.set(loc.path.join("."), { leading: loc.leadingComments ?? "", trailing: loc.trailingComments ?? "" });
    }
    locationCache.set(file, locations);
  }
  const loc = locations.get(sourcePath(desc).join("."));
  if (!loc) return "";
  return [clean(loc.leading), clean(loc.trailing)].filter(Boolean).join("\n\n");
}

function clean(raw: string): string {
  return raw.split("\n").map((line) => (line.startsWith(" ") ? line.slice(1) : line).trimEnd()).join("\n").trim();
}

function fileOf(desc: Commented): DescFile {
  switch (desc.kind) {
    case "field":
    case "oneof":
    case "rpc":
      return desc.parent.file;
    case "enum_value":
      return desc.parent.file;
    default:
      return desc.file;
  }
}

/** The SourceCodeInfo path (field numbers of descriptor.proto and indexes) that locates the element. */
function sourcePath(desc: Commented): number[] {
  switch (desc.kind) {
    case "service":
      return [6, desc.file.proto.service.indexOf(desc.proto)];
    case "rpc":
      return [...sourcePath(desc.parent), 2, desc.parent.proto.method.indexOf(desc.proto)];
    case "message":
      return desc.parent
        ? [...sourcePath(desc.parent), 3, desc.parent.proto.nestedType.indexOf(desc.proto)]
        : [4, desc.file.proto.messageType.indexOf(desc.proto)];
    case "field":
      return [...sourcePath(desc.parent), 2, desc.parent.proto.field.indexOf(desc.proto)];
    case "oneof":
      return [...sourcePath(desc.parent), 8, desc.parent.proto.oneofDecl.indexOf(desc.proto)];
    case "enum":
      return desc.parent
        ? [...sourcePath(desc.parent), 4, desc.parent.proto.enumType.indexOf(desc.proto)]
        : [5, desc.file.proto.enumType.indexOf(desc.proto)];
    case "enum_value":
      return [...sourcePath(desc.parent), 2, desc.parent.proto.value.indexOf(desc.proto)];
  }
}

/** The first sentence of the first paragraph, for an operation's one-line summary. */
function summaryOf(text: string): string {
  const paragraph = (text.split(/\n\s*\n/)[0] ?? "").replace(/\s+/g, " ").trim();
  const sentenceEnd = /[.!?](?=\s|$)/g;
  for (let m = sentenceEnd.exec(paragraph); m; m = sentenceEnd.exec(paragraph)) {
    const before = paragraph.slice(0, m.index + 1);
    if (/\b(e\.g|i\.e|etc|vs)\.$/i.test(before)) continue;
    return before;
  }
  return paragraph;
}

function withText<T extends Schema>(target: T, description: string): T {
  if (description) (target as Schema).description = description;
  return target;
}
