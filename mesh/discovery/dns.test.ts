import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError } from "#mesh/config.js";
import { DnsDiscovery, parseDnsSettings } from "./dns.js";

test("dns discovery: a Kubernetes Service name with the catalogue's port, in the rag namespace by default", () => {
  const d = new DnsDiscovery();
  assert.equal(d.target("retrieval"), "dns:///retrieval.rag.svc.cluster.local:50054");
  assert.equal(d.target("documents"), "dns:///documents.rag.svc.cluster.local:50051");
});

test("dns discovery: namespace, cluster domain and per-service ports come from settings", () => {
  const d = new DnsDiscovery(parseDnsSettings({ RAG_DNS_NAMESPACE: "rag-prod", RAG_DNS_CLUSTER_DOMAIN: "k8s.example.org", RAG_DNS_PORTS: "retrieval=8443" }));
  assert.equal(d.target("retrieval"), "dns:///retrieval.rag-prod.svc.k8s.example.org:8443");
  assert.equal(d.target("query"), "dns:///query.rag-prod.svc.k8s.example.org:50056");
});

test("dns discovery: bad settings name the variable", () => {
  assert.throws(
    () => parseDnsSettings({ RAG_DNS_NAMESPACE: "Rag_Prod", RAG_DNS_CLUSTER_DOMAIN: "cluster..local", RAG_DNS_PORTS: "retrieval:8443" }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /RAG_DNS_NAMESPACE: expected a DNS label .*\(got "Rag_Prod"\)/);
      assert.match(err.message, /RAG_DNS_CLUSTER_DOMAIN: expected a domain such as cluster\.local/);
      assert.match(err.message, /RAG_DNS_PORTS: expected name=port \(e\.g\. retrieval=50054\), got "retrieval:8443"/);
      return true;
    },
  );
  assert.throws(() => new DnsDiscovery({ namespace: "Bad Namespace" }), /namespace "Bad Namespace" is not a DNS label/);
});
