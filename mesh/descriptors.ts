import type { DescriptorProto, FieldDescriptorProto, FileDescriptorProto } from "@bufbuild/protobuf/wkt";

/**
 * Makes the file descriptors that @grpc/proto-loader hands out (protobufjs's `toDescriptor`) loadable by
 * @bufbuild/protobuf's registry. protobufjs writes one file per package, lists no dependencies, and names
 * referenced types relative to the referring scope (`SubscriptionState`, `google.protobuf.Timestamp`)
 * where protoc writes fully-qualified names (`.rag.v1.SubscriptionState`). This resolves every reference
 * the way protoc does (innermost scope first) and records the files it needs as dependencies.
 * Descriptors that are already fully qualified pass through unchanged.
 */
export function qualifyFileDescriptors(files: FileDescriptorProto[]): FileDescriptorProto[] {
  const owner = new Map<string, string>(); // fully-qualified type name → file name
  for (const file of files) {
    const walk = (scope: string, messages: DescriptorProto[]): void => {
      for (const m of messages) {
        const name = join(scope, m.name);
        owner.set(name, file.name);
        for (const e of m.enumType) owner.set(join(name, e.name), file.name);
        walk(name, m.nestedType);
      }
    };
    walk(file.package, file.messageType);
    for (const e of file.enumType) owner.set(join(file.package, e.name), file.name);
  }

  const resolve = (scope: string, ref: string, needs: Set<string>): string => {
    if (ref === "" || ref.startsWith(".")) return ref;
    const parts = scope === "" ? [] : scope.split(".");
    for (let i = parts.length; i >= 0; i--) {
      const candidate = join(parts.slice(0, i).join("."), ref);
      const file = owner.get(candidate);
      if (file !== undefined) {
        needs.add(file);
        return `.${candidate}`;
      }
    }
    return ref; // unknown: the registry will say which
  };

  for (const file of files) {
    const needs = new Set<string>(file.dependency);
    const fixField = (scope: string, f: FieldDescriptorProto): void => {
      f.typeName = resolve(scope, f.typeName, needs);
      f.extendee = resolve(scope, f.extendee, needs);
    };
    const walk = (scope: string, messages: DescriptorProto[]): void => {
      for (const m of messages) {
        const name = join(scope, m.name);
        // protobufjs also lists each extension inside the message it extends, under the name ".pkg.ext".
        m.field = m.field.filter((f) => !f.name.startsWith("."));
        for (const f of m.field) fixField(name, f);
        for (const f of m.extension) fixField(name, f);
        walk(name, m.nestedType);
      }
    };
    walk(file.package, file.messageType);
    for (const f of file.extension) fixField(file.package, f);
    for (const s of file.service) {
      const scope = join(file.package, s.name);
      for (const m of s.method) {
        m.inputType = resolve(scope, m.inputType, needs);
        m.outputType = resolve(scope, m.outputType, needs);
      }
    }
    needs.delete(file.name);
    file.dependency = [...needs];
  }
  // Dependencies first, as a FileDescriptorSet lists them.
  const byName = new Map(files.map((f) => [f.name, f]));
  const ordered: FileDescriptorProto[] = [];
  const placed = new Set<string>();
  const place = (file: FileDescriptorProto, path: Set<string>): void => {
    if (placed.has(file.name) || path.has(file.name)) return;
    path.add(file.name);
    for (const dep of file.dependency) {
      const d = byName.get(dep);
      if (d) place(d, path);
    }
    placed.add(file.name);
    ordered.push(file);
  };
  for (const file of files) place(file, new Set());
  return ordered;
}

function join(scope: string, name: string): string {
  return scope === "" ? name : `${scope}.${name}`;
}
