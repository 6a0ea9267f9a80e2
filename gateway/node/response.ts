import { fromBinary, toJson, type DescMessage, type JsonValue, type Registry } from "@bufbuild/protobuf";

/**
 * Upstream response bytes as the proto3 JSON a REST client gets: lowerCamel names, 64-bit ints as strings,
 * enums by name, RFC 3339 Timestamps, and default values written out so clients need not know them.
 * `responseBody` ("" or a field name, from the binding's `response_body`) selects one field to return.
 */
export function renderResponse(output: DescMessage, bytes: Uint8Array, responseBody: string, registry: Registry): JsonValue {
  const message = fromBinary(output, bytes);
  const json = toJson(output, message, { alwaysEmitImplicit: true, registry });
  if (responseBody === "") return json;
  const field = output.fields.find((f) => f.name === responseBody);
  if (!field) throw new Error(`${output.typeName} has no field ${JSON.stringify(responseBody)} (response_body)`);
  const obj = json as Record<string, JsonValue>;
  // An unset message field is absent even with alwaysEmitImplicit; the client still gets valid JSON.
  return obj[field.jsonName] ?? null;
}
