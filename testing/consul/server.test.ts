import { after, test } from "node:test";
import assert from "node:assert/strict";
import { startConsulTestServer, type ConsulTestServer } from "./server.js";
import { startReplica, type Replica } from "./replica.js";

// The test double is held to the documented API the discovery code relies on.
const started: (ConsulTestServer | Replica)[] = [];
after(async () => {
  for (const s of started.splice(0)) await ("close" in s ? s.close() : s.stop());
});

async function server(opts = {}) {
  const s = await startConsulTestServer(opts);
  started.push(s);
  return s;
}

async function call(s: ConsulTestServer, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`http://${s.address}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, index: res.headers.get("x-consul-index"), text, json: () => JSON.parse(text) };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 5_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("consul test server: a registration (snake_case keys) is listed, its HTTP check runs, and ?passing follows it", async () => {
  const s = await server();
  const r = await startReplica("a");
  started.push(r);
  const reg = await call(s, "PUT", "/v1/agent/service/register", {
    id: "echo-a",
    name: "echo",
    address: "127.0.0.1",
    port: r.grpcPort,
    tags: ["grpc"],
    meta: { version: "1" },
    check: { http: `http://127.0.0.1:${r.adminPort}/readyz`, interval: "100ms", timeout: "1s", deregister_critical_service_after: "1m" },
  });
  assert.equal(reg.status, 200, reg.text);
  const services = (await call(s, "GET", "/v1/agent/services")).json();
  assert.deepEqual([services["echo-a"].Service, services["echo-a"].Port, services["echo-a"].Meta], ["echo", r.grpcPort, { version: "1" }]);
  await until("passing", async () => ((await call(s, "GET", "/v1/health/service/echo?passing")).json().length === 1 ? true : undefined));
  r.setReady(false);
  await until("critical", async () => ((await call(s, "GET", "/v1/health/service/echo?passing=true")).json().length === 0 ? true : undefined));
  const all = (await call(s, "GET", "/v1/health/service/echo")).json();
  assert.equal(all.length, 1);
  assert.equal(all[0].Checks.find((c: { CheckID: string }) => c.CheckID === "service:echo-a").Status, "critical");
});

test("consul test server: a blocking query returns at once without index, waits for a change with it, and times out after wait", async () => {
  const s = await server();
  const first = await call(s, "GET", "/v1/health/service/web");
  assert.equal(first.status, 200);
  assert.ok(Number(first.index) >= 1);
  // No change: the answer comes after `wait` (plus at most wait/16) with the same index.
  const t0 = Date.now();
  const idle = await call(s, "GET", `/v1/health/service/web?index=${first.index}&wait=300ms`);
  assert.ok(Date.now() - t0 >= 250, "returned before wait elapsed");
  assert.equal(idle.index, first.index);
  // A change to another service does not wake it; a registration of this one does.
  const pending = call(s, "GET", `/v1/health/service/web?index=${first.index}&wait=30s`);
  await call(s, "PUT", "/v1/agent/service/register", { Name: "other", Port: 1 });
  await call(s, "PUT", "/v1/agent/service/register", { ID: "web-1", Name: "web", Port: 80, Check: { TTL: "10s", Status: "passing" } });
  const changed = await pending;
  assert.ok(Number(changed.index) > Number(first.index));
  assert.equal(changed.json()[0].Service.ID, "web-1");
  // Deregistering an unknown id is no action; a known one changes the index.
  assert.equal((await call(s, "PUT", "/v1/agent/service/deregister/nope")).status, 200);
  await call(s, "PUT", "/v1/agent/service/deregister/web-1");
  const gone = await call(s, "GET", `/v1/health/service/web?index=${changed.index}`);
  assert.deepEqual(gone.json(), []);
});

test("consul test server: ACL token required when configured; unsupported checks are refused", async () => {
  const s = await server({ aclToken: "secret-token" });
  assert.equal((await call(s, "GET", "/v1/agent/services")).status, 403);
  const wrong = await call(s, "GET", "/v1/agent/services", undefined, { "X-Consul-Token": "nope" });
  assert.deepEqual([wrong.status, wrong.text], [403, "ACL not found"]);
  assert.equal((await call(s, "GET", "/v1/agent/services", undefined, { "X-Consul-Token": "secret-token" })).status, 200);
  assert.equal((await call(s, "GET", "/v1/agent/services?token=secret-token")).status, 200);
  assert.equal((await call(s, "GET", "/v1/agent/services", undefined, { Authorization: "Bearer secret-token" })).status, 200);
  const grpc = await call(s, "PUT", "/v1/agent/service/register?token=secret-token", { Name: "x", Check: { GRPC: "127.0.0.1:1", Interval: "1s" } });
  assert.equal(grpc.status, 400);
  assert.match(grpc.text, /HTTP, TCP and TTL checks only/);
  const noInterval = await call(s, "PUT", "/v1/agent/service/register?token=secret-token", { Name: "x", Check: { HTTP: "http://127.0.0.1:1/" } });
  assert.match(noInterval.text, /Interval must be > 0/);
});
