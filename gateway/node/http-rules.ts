import { readFileSync } from "node:fs";
import { createFileRegistry, fromBinary, getOption, hasOption, type DescExtension, type DescMethod, type DescService, type FileRegistry } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";

/** One REST binding of an RPC, as written in its `google.api.http` option (or one of its additional_bindings). */
export interface HttpBinding {
  service: DescService;
  method: DescMethod;
  /** "GET", "POST", "PATCH", "PUT", "DELETE" (or a custom verb's kind). */
  verb: string;
  /** The path template, e.g. "/v1/documents/{document_id}" or "/v1/query:ask". */
  template: string;
  /** "" (no body), "*" (the whole request), or the name of one request field. */
  body: string;
  /** "" (the whole response) or the name of one response field. */
  responseBody: string;
}

/** The descriptor sets `make proto` builds (with imports), merged into one registry. */
export function loadRegistry(paths: string[]): FileRegistry {
  const files = paths.flatMap((p) => fromBinary(FileDescriptorSetSchema, readFileSync(p)).file);
  // Imports like google/api/http.proto appear in every set; the registry wants each file once.
  const seen = new Set<string>();
  return createFileRegistry({ $typeName: "google.protobuf.FileDescriptorSet", file: files.filter((f) => !seen.has(f.name) && seen.add(f.name)) });
}

interface HttpRuleShape {
  pattern: { case: string | undefined; value?: unknown };
  body: string;
  responseBody: string;
  additionalBindings: HttpRuleShape[];
}

/** Every annotated RPC's bindings, in descriptor order. RPCs without the option (internal ones) have none. */
export function httpBindings(registry: FileRegistry): HttpBinding[] {
  const ext = registry.getExtension("google.api.http") as DescExtension | undefined;
  if (!ext) return [];
  const out: HttpBinding[] = [];
  for (const type of registry) {
    if (type.kind !== "service") continue;
    for (const method of type.methods) {
      if (!hasOption(method, ext)) continue;
      const rule = getOption(method, ext) as unknown as HttpRuleShape;
      for (const r of [rule, ...rule.additionalBindings]) {
        const binding = toBinding(type, method, r);
        if (binding) out.push(binding);
      }
    }
  }
  return out;
}

function toBinding(service: DescService, method: DescMethod, rule: HttpRuleShape): HttpBinding | undefined {
  const { case: kind, value } = rule.pattern;
  if (!kind) return undefined;
  if (kind === "custom") {
    const custom = value as { kind: string; path: string };
    return { service, method, verb: custom.kind.toUpperCase(), template: custom.path, body: rule.body, responseBody: rule.responseBody };
  }
  return { service, method, verb: kind.toUpperCase(), template: value as string, body: rule.body, responseBody: rule.responseBody };
}
