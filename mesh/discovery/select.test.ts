import { test } from "node:test";
import assert from "node:assert/strict";
import { baseEnvSchema, parseEnv } from "#mesh/config.js";
import { discoveryEnvShape, selectDiscovery } from "./select.js";

const SECRET = { RAG_INTERNAL_SECRET: "a-shared-secret-of-at-least-32-characters" };
const schema = baseEnvSchema("query").extend(discoveryEnvShape);

test("discovery selection: static by default, consul and dns by RAG_DISCOVERY", () => {
  const fixed = selectDiscovery(parseEnv(schema, { ...SECRET, RAG_ENDPOINTS: "retrieval=127.0.0.1:7000|127.0.0.1:7001" }));
  assert.equal(fixed.kind, "static");
  assert.equal(fixed.discovery.target("retrieval"), "ipv4:127.0.0.1:7000,127.0.0.1:7001");
  assert.equal(fixed.registration({ service: "query", grpcPort: 1, adminPort: 2 }), undefined);

  const consul = selectDiscovery(parseEnv(schema, { ...SECRET, RAG_DISCOVERY: "consul", CONSUL_HTTP_ADDR: "127.0.0.1:18500" }));
  try {
    assert.equal(consul.discovery.target("retrieval"), "consul://127.0.0.1:18500/retrieval");
    const reg = consul.registration({ service: "query", grpcPort: 50056, adminPort: 9606, bindHost: "127.0.0.1" });
    assert.equal(reg?.definition().check.http, "http://127.0.0.1:9606/readyz");
    reg?.close();
  } finally {
    consul.close();
  }

  const dns = selectDiscovery(parseEnv(schema, { ...SECRET, RAG_DISCOVERY: "dns", RAG_DNS_NAMESPACE: "prod" }));
  assert.equal(dns.discovery.target("retrieval"), "dns:///retrieval.prod.svc.cluster.local:50054");
  assert.throws(() => parseEnv(schema, { ...SECRET, RAG_DISCOVERY: "zookeeper" }), /RAG_DISCOVERY/);
});
