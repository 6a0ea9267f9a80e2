import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { baseEnvSchema, ConfigError, parseEnv } from "#mesh/config.js";
import { agentUrl, consulEnvShape, consulSettings, parseConsulSettings } from "./consul-settings.js";

const dir = mkdtempSync(join(tmpdir(), "consul-settings-"));
const pem = (name: string) => {
  const path = join(dir, name);
  writeFileSync(path, `-----BEGIN CERTIFICATE-----\n${name}\n-----END CERTIFICATE-----\n`);
  return path;
};

function problems(env: Record<string, string>): string {
  try {
    parseConsulSettings(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail("expected a ConfigError");
}

test("consul settings: the CLI's defaults (127.0.0.1:8500 over http, no token) and the documented durations", () => {
  const s = parseConsulSettings({});
  assert.deepEqual(s.agent, { scheme: "http", host: "127.0.0.1", port: 8500, token: undefined, tls: undefined });
  assert.equal(agentUrl(s.agent), "http://127.0.0.1:8500");
  assert.deepEqual(s.registration, { advertiseAddress: undefined, tags: [], checkInterval: "1s", checkTimeout: "1s", deregisterCriticalServiceAfter: "1m" });
  assert.deepEqual(s.watch, { wait: "30s", debounceMs: 100 });
});

test("consul settings: address forms, token, TLS files and registration variables", () => {
  assert.equal(agentUrl(parseConsulSettings({ CONSUL_HTTP_ADDR: "consul.service:8500" }).agent), "http://consul.service:8500");
  assert.equal(agentUrl(parseConsulSettings({ CONSUL_HTTP_ADDR: "https://consul.example" }).agent), "https://consul.example:8501");
  assert.equal(agentUrl(parseConsulSettings({ CONSUL_HTTP_ADDR: "10.0.0.5:8501", CONSUL_HTTP_SSL: "true" }).agent), "https://10.0.0.5:8501");
  assert.equal(agentUrl(parseConsulSettings({ CONSUL_HTTP_ADDR: "[::1]:8500" }).agent), "http://[::1]:8500");
  const s = parseConsulSettings({
    CONSUL_HTTP_ADDR: "https://127.0.0.1:8501",
    CONSUL_HTTP_TOKEN: "b1gs3cr3t",
    CONSUL_CACERT: pem("ca.pem"),
    CONSUL_CLIENT_CERT: pem("client.pem"),
    CONSUL_CLIENT_KEY: pem("client-key.pem"),
    CONSUL_TLS_SERVER_NAME: "server.dc1.consul",
    RAG_ADVERTISE_ADDRESS: "10.1.2.3",
    RAG_CONSUL_TAGS: "v1, canary",
    RAG_CONSUL_CHECK_INTERVAL: "1s",
    RAG_CONSUL_DEREGISTER_AFTER: "90m",
  });
  assert.equal(s.agent.token, "b1gs3cr3t");
  assert.match(s.agent.tls!.ca!.toString(), /ca\.pem/);
  assert.match(s.agent.tls!.key!.toString(), /client-key\.pem/);
  assert.equal(s.agent.tls!.serverName, "server.dc1.consul");
  assert.deepEqual(s.registration, { advertiseAddress: "10.1.2.3", tags: ["v1", "canary"], checkInterval: "1s", checkTimeout: "1s", deregisterCriticalServiceAfter: "90m" });
});

test("consul settings: bad values stop start-up with a message naming each variable", () => {
  const msg = problems({
    CONSUL_HTTP_ADDR: "tcp://consul:8500",
    CONSUL_CACERT: join(dir, "missing.pem"),
    RAG_ADVERTISE_ADDRESS: "0.0.0.0",
    RAG_CONSUL_CHECK_INTERVAL: "10",
    CONSUL_HTTP_SSL: "perhaps",
  });
  assert.match(msg, /CONSUL_HTTP_ADDR: expected host:port, http:\/\/host:port or https:\/\/host:port .*\(got "tcp:\/\/consul:8500"\)/);
  assert.match(msg, /CONSUL_CACERT: cannot read .*missing\.pem: ENOENT/);
  assert.match(msg, /RAG_ADVERTISE_ADDRESS: a wildcard address cannot be reached/);
  assert.match(msg, /RAG_CONSUL_CHECK_INTERVAL: expected a duration such as "500ms", "10s" or "1m" \(got "10"\)/);
  assert.match(msg, /CONSUL_HTTP_SSL/);
  assert.match(problems({ CONSUL_HTTP_ADDR: "127.0.0.1:99999" }), /CONSUL_HTTP_ADDR: expected host:port/);
});

test("consul settings: variables that contradict each other are named together", () => {
  assert.match(problems({ CONSUL_CACERT: pem("ca2.pem") }), /CONSUL_CACERT: set, but the agent is reached over plain http; set CONSUL_HTTP_ADDR=https:\/\/host:8501 or CONSUL_HTTP_SSL=true/);
  assert.match(problems({ CONSUL_HTTP_ADDR: "https://c:8501", CONSUL_CLIENT_CERT: pem("c.pem") }), /CONSUL_CLIENT_CERT, CONSUL_CLIENT_KEY: a client certificate needs its key/);
  assert.match(problems({ CONSUL_HTTP_ADDR: "http://c:8500", CONSUL_HTTP_SSL: "true" }), /CONSUL_HTTP_SSL: true, but CONSUL_HTTP_ADDR says http:\/\//);
});

test("consul settings: the shape merges into a service's own schema", () => {
  const env = parseEnv(baseEnvSchema("retrieval").extend(consulEnvShape), {
    RAG_INTERNAL_SECRET: "a-shared-secret-of-at-least-32-characters",
    CONSUL_HTTP_ADDR: "127.0.0.1:8600",
    CONSUL_HTTP_TOKEN: "t",
  });
  assert.equal(env.GRPC_PORT, 50054);
  const s = consulSettings(env);
  assert.deepEqual([s.agent.port, s.agent.token], [8600, "t"]);
});
