import { test } from "node:test";
import assert from "node:assert/strict";
import { parseEnv } from "#mesh/config.js";
import { identityEnvSchema } from "./config.js";

const DB = "postgres://u@127.0.0.1/identity";

test("defaults and a well-formed bootstrap key are accepted", () => {
  const env = parseEnv(identityEnvSchema, { DATABASE_URL: DB, IDENTITY_BOOTSTRAP_ADMIN_KEY: "rag_0123456789ab_abcdefghijklmnopqrstuvwxyz" });
  assert.equal(env.IDENTITY_KEY_ROTATION_DAYS, 30);
});

test("a malformed bootstrap key or rotation period is refused, naming the variable", () => {
  assert.throws(() => parseEnv(identityEnvSchema, { DATABASE_URL: DB, IDENTITY_BOOTSTRAP_ADMIN_KEY: "secret" }), /IDENTITY_BOOTSTRAP_ADMIN_KEY/);
  assert.throws(() => parseEnv(identityEnvSchema, { DATABASE_URL: DB, IDENTITY_KEY_ROTATION_DAYS: "0" }), /IDENTITY_KEY_ROTATION_DAYS/);
});
