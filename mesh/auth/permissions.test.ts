import { test } from "node:test";
import assert from "node:assert/strict";
import { loadSync } from "@grpc/proto-loader";
import { CATALOGUE, SERVICE_NAMES } from "../catalogue.js";
import { PROTO_ROOT } from "../paths.js";
import { INTERNAL_PERMISSION, OPERATOR_PERMISSION, SERVICE_PERMISSIONS, methodPermissions, permissionsOfRoles } from "./permissions.js";

const rpcPaths = SERVICE_NAMES.flatMap((name) => {
  const { protoFile, grpcService } = CATALOGUE[name];
  const svc = loadSync(protoFile, { includeDirs: [PROTO_ROOT] })[grpcService] as Record<string, { path: string }>;
  return Object.values(svc).map((m) => m.path);
});

test("permissions: every RPC of every service declares one, and the table names no RPC that does not exist", () => {
  const table = methodPermissions();
  const missing = rpcPaths.filter((p) => !table[p]);
  assert.deepEqual(missing, [], "RPCs without a permission could not be served");
  const stale = Object.keys(table).filter((p) => p.startsWith("/rag.v1.") && !rpcPaths.includes(p));
  assert.deepEqual(stale, []);
});

test("permissions: roles include the roles below them; tenants.manage and internal.call belong to no role", () => {
  const reader = permissionsOfRoles(["READER"]);
  const editor = permissionsOfRoles(["EDITOR"]);
  const admin = permissionsOfRoles(["ADMIN"]);
  assert.ok(reader.every((p) => editor.includes(p)) && editor.every((p) => admin.includes(p)));
  assert.ok(reader.includes("query.ask") && !reader.includes("documents.write"));
  assert.ok(editor.includes("documents.write") && !editor.includes("users.manage"));
  for (const p of [OPERATOR_PERMISSION, INTERNAL_PERMISSION]) assert.ok(!admin.includes(p));
  assert.ok(SERVICE_PERMISSIONS.includes(INTERNAL_PERMISSION) && !SERVICE_PERMISSIONS.includes(OPERATOR_PERMISSION));
});
