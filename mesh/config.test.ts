import { test } from "node:test";
import assert from "node:assert/strict";
import { baseEnvSchema, ConfigError, parseEnv } from "./config.js";

const SECRET = { RAG_INTERNAL_SECRET: "a-shared-secret-of-at-least-32-characters" };

test("config: defaults come from the catalogue", () => {
  const env = parseEnv(baseEnvSchema("documents"), SECRET);
  assert.equal(env.GRPC_PORT, 50051);
  assert.equal(env.ADMIN_PORT, 9601);
  assert.deepEqual(env.RAG_ENDPOINTS, {});
});

test("config: a bad value names the variable and what it got", () => {
  assert.throws(
    () => parseEnv(baseEnvSchema("documents"), { GRPC_PORT: "http", RAG_ENDPOINTS: "retrieval=nohost", LOG_LEVEL: "loud" }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /GRPC_PORT: .*\(got "http"\)/);
      assert.match(err.message, /RAG_ENDPOINTS: expected name=host:port/);
      assert.match(err.message, /LOG_LEVEL/);
      assert.match(err.message, /RAG_INTERNAL_SECRET: required: a secret of at least 32 characters/);
      return true;
    },
  );
});

test("config: static endpoints parse", () => {
  const env = parseEnv(baseEnvSchema("query"), { ...SECRET, RAG_ENDPOINTS: "retrieval=127.0.0.1:7000, embeddings=emb.rag.svc:50053" });
  assert.deepEqual(env.RAG_ENDPOINTS, { retrieval: "127.0.0.1:7000", embeddings: "emb.rag.svc:50053" });
});

test("RAG_ENDPOINTS lists a service's replicas joined by |, which static discovery turns into one grpc address list", async () => {
  const { StaticDiscovery } = await import("./discovery.js");
  const env = parseEnv(baseEnvSchema("query"), { ...SECRET, RAG_ENDPOINTS: "retrieval=127.0.0.1:7000|127.0.0.1:7001,embeddings=emb:1" });
  assert.deepEqual(env.RAG_ENDPOINTS, { retrieval: "127.0.0.1:7000|127.0.0.1:7001", embeddings: "emb:1" });
  const discovery = new StaticDiscovery(env.RAG_ENDPOINTS);
  assert.equal(discovery.target("retrieval"), "ipv4:127.0.0.1:7000,127.0.0.1:7001");
  assert.equal(discovery.target("embeddings"), "emb:1");
  assert.throws(() => new StaticDiscovery({ query: "a:1|b:2" }).target("query"), /IPv4 or all IPv6 literals/);
  assert.throws(() => parseEnv(baseEnvSchema("query"), { ...SECRET, RAG_ENDPOINTS: "retrieval=127.0.0.1:7000|" }), /several joined by \|/);
});
