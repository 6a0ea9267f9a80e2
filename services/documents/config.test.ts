import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, parseEnv } from "#mesh/config.js";
import { documentsEnvSchema, parseLimits } from "./config.js";
import { DEFAULT_LIMITS } from "./parsing/limits.js";

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

test("parse limits have defaults, become ParseLimits, and a bad value names its variable", () => {
  const env = parseEnv(documentsEnvSchema, { DATABASE_URL });
  assert.equal(env.PARSE_WORKERS, 2);
  assert.equal(env.PARSE_QUEUE, 16);
  assert.equal(env.PARSE_TIMEOUT_MS, 20_000);
  assert.equal(env.PARSE_MAX_MEMORY_MB, 512);
  assert.deepEqual(parseLimits(env), DEFAULT_LIMITS);
  assert.deepEqual(parseLimits(env), {
    maxExpandedBytes: 50 * 1024 * 1024,
    maxZipEntries: 1_000,
    maxCompressionRatio: 200,
    maxPdfPages: 2_000,
    maxHtmlDepth: 500,
    maxTextChars: 20_000_000,
  });
  assert.equal(parseLimits(parseEnv(documentsEnvSchema, { DATABASE_URL, PARSE_MAX_PDF_PAGES: "10" })).maxPdfPages, 10);

  for (const [vars, problem] of [
    [{ PARSE_WORKERS: "0" }, /^PARSE_WORKERS: /],
    [{ PARSE_MAX_MEMORY_MB: "16" }, /^PARSE_MAX_MEMORY_MB: .*128/],
    // The HTML walk recurses once per level: the setting cannot take it past the stack.
    [{ PARSE_MAX_HTML_DEPTH: "100000" }, /^PARSE_MAX_HTML_DEPTH: .*2000/],
    [{ PARSE_MAX_EXPANDED_BYTES: "lots" }, /^PARSE_MAX_EXPANDED_BYTES: .*\(got "lots"\)$/],
  ] as const) {
    assert.throws(
      () => parseEnv(documentsEnvSchema, { DATABASE_URL, ...vars }),
      (err: unknown) => err instanceof ConfigError && err.problems.length === 1 && problem.test(err.problems[0]!),
    );
  }
});
