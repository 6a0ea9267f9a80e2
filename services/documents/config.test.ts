import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, parseEnv } from "#mesh/config.js";
import { documentsEnvSchema } from "./config.js";

const DATABASE_URL = "postgres://localhost/documents";

test("chunking settings have defaults, and a bad value names its variable", () => {
  const env = parseEnv(documentsEnvSchema, { DATABASE_URL });
  assert.equal(env.CHUNK_SIZE, 800);
  assert.equal(env.CHUNK_OVERLAP, 100);
  assert.equal(env.MAX_DOCUMENT_BYTES, 10 * 1024 * 1024);
  assert.equal(parseEnv(documentsEnvSchema, { DATABASE_URL, CHUNK_SIZE: "300", CHUNK_OVERLAP: "0" }).CHUNK_SIZE, 300);

  for (const [vars, problem] of [
    [{ CHUNK_SIZE: "50" }, /^CHUNK_SIZE: .*100.* \(got "50"\)$/],
    [{ CHUNK_SIZE: "lots" }, /^CHUNK_SIZE: .*\(got "lots"\)$/],
    [{ CHUNK_OVERLAP: "-1" }, /^CHUNK_OVERLAP: .*\(got "-1"\)$/],
    [{ CHUNK_SIZE: "400", CHUNK_OVERLAP: "200" }, /^CHUNK_OVERLAP: must be less than half of CHUNK_SIZE \(400\) \(got "200"\)$/],
  ] as const) {
    assert.throws(
      () => parseEnv(documentsEnvSchema, { DATABASE_URL, ...vars }),
      (err: unknown) => err instanceof ConfigError && err.problems.length === 1 && problem.test(err.problems[0]!),
    );
  }
});
