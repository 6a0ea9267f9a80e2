import { afterEach, test } from "node:test";
import assert from "node:assert/strict";
import { startConsulTestServer, type ConsulTestServer } from "#testing/consul/server.js";
import { startReplica, type Replica } from "#testing/consul/replica.js";
import { advertiseAddress, ConsulRegistration } from "./consul-registration.js";
import { parseConsulSettings, type ConsulAgentSettings, type ConsulRegistrationSettings } from "./consul-settings.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function consul(opts: Parameters<typeof startConsulTestServer>[0] = {}): Promise<ConsulTestServer> {
  const s = await startConsulTestServer(opts);
  cleanups.push(() => s.close());
  return s;
}

async function replica(name: string): Promise<Replica> {
  const r = await startReplica(name);
  cleanups.push(() => r.stop());
  return r;
}

const FAST: ConsulRegistrationSettings = { tags: ["v1"], checkInterval: "200ms", checkTimeout: "1s", deregisterCriticalServiceAfter: "1m" };

function agentOf(s: ConsulTestServer, env: Record<string, string> = {}): ConsulAgentSettings {
  return parseConsulSettings({ CONSUL_HTTP_ADDR: s.address, ...env }).agent;
}

function register(agent: ConsulAgentSettings, r: Replica, settings = FAST): ConsulRegistration {
  const reg = new ConsulRegistration(agent, settings, { service: "retrieval", grpcPort: r.grpcPort, adminPort: r.adminPort, bindHost: "127.0.0.1" });
  cleanups.push(() => reg.close());
  return reg;
}

async function until(what: string, probe: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function passing(s: ConsulTestServer, service: string): Promise<{ Service: { ID: string } }[]> {
  return (await fetch(`http://${s.address}/v1/health/service/${service}?passing=true`, { headers: { "X-Consul-Token": "t0ken" } })).json() as never;
}

test("consul registration: a replica appears with its address, gRPC port, tags, meta and an HTTP check on /readyz, and turns passing", async () => {
  const s = await consul();
  const r = await replica("a");
  const reg = register(agentOf(s), r);
  await reg.register();
  const services = (await (await fetch(`http://${s.address}/v1/agent/services`)).json()) as Record<string, any>;
  const entry = services[reg.id];
  assert.ok(entry, `${reg.id} not in ${Object.keys(services)}`);
  assert.match(reg.id, new RegExp(`^retrieval-.+-${r.grpcPort}$`));
  assert.equal(entry.Service, "retrieval");
  assert.equal(entry.Address, "127.0.0.1");
  assert.equal(entry.Port, r.grpcPort);
  assert.deepEqual(entry.Tags, ["grpc", "v1"]);
  assert.equal(entry.Meta.protocol, "grpc");
  assert.match(entry.Meta.version, /^\d+\.\d+\.\d+/);
  const check = reg.definition().check;
  assert.equal(check.http, `http://127.0.0.1:${r.adminPort}/readyz`);
  assert.equal(check.deregistercriticalserviceafter, "1m");
  await until("the instance passing", async () => (await passing(s, "retrieval")).some((e) => e.Service.ID === reg.id));
  assert.deepEqual(s.checkStatuses(reg.id), { [`${reg.id}:readyz`]: "passing" });
});

test("consul registration: deregister removes the replica; a crashed replica is removed after DeregisterCriticalServiceAfter", async () => {
  // The agent's floor (1m) and reap interval (30s) shortened, as Consul's own tests do, to keep this quick.
  const s = await consul({ checkDeregisterIntervalMinMs: 0, checkReapIntervalMs: 100 });
  const agent = agentOf(s);
  const drained = register(agent, await replica("drained"));
  await drained.register();
  assert.ok(s.serviceIds().includes(drained.id));
  await drained.deregister();
  assert.ok(!s.serviceIds().includes(drained.id));
  await drained.deregister(); // twice is fine

  const r = await replica("crashes");
  const crashed = register(agent, r, { ...FAST, deregisterCriticalServiceAfter: "500ms" });
  await crashed.register();
  await until("passing", () => s.checkStatuses(crashed.id)[`${crashed.id}:readyz`] === "passing");
  await r.stop();
  await until("the crashed replica deregistered by the agent", () => !s.serviceIds().includes(crashed.id));
});

test("consul registration: the ACL token is sent; a missing or wrong one gives a clear error naming the agent", async () => {
  const s = await consul({ aclToken: "t0ken" });
  const r = await replica("a");
  const reg = register(agentOf(s, { CONSUL_HTTP_TOKEN: "t0ken" }), r);
  await reg.register();
  const sent = s.requests.filter((q) => q.path === "/v1/agent/service/register");
  assert.deepEqual(sent.map((q) => q.token), ["t0ken"]);
  await until("passing", async () => (await passing(s, "retrieval")).length === 1);

  await assert.rejects(register(agentOf(s, { CONSUL_HTTP_TOKEN: "wrong" }), r).register(), (err: Error) => {
    assert.equal(err.message, `consul agent at http://${s.address} refused the registration (register ${reg.id}): 403 ACL not found`);
    return true;
  });
  await assert.rejects(register(agentOf(s), r).register(), /consul agent at http:\/\/127\.0\.0\.1:\d+ refused the registration .*403 Permission denied/);
});

test("consul registration: an agent that is not there is named in the error", async () => {
  const s = await consul();
  const address = s.address;
  await s.close();
  const r = await replica("a");
  await assert.rejects(
    register(parseConsulSettings({ CONSUL_HTTP_ADDR: address }).agent, r).register(),
    new RegExp(`could not reach the consul agent at http://${address.replace(/\./g, "\\.")} to register retrieval-.*ECONNREFUSED`),
  );
});

test("consul registration: the advertised address is never a wildcard", () => {
  const lan = { eth0: [{ address: "10.1.2.3", family: "IPv4", internal: false } as never], lo: [{ address: "127.0.0.1", family: "IPv4", internal: true } as never] };
  assert.equal(advertiseAddress(undefined, "0.0.0.0", lan), "10.1.2.3");
  assert.equal(advertiseAddress(undefined, "::", lan), "10.1.2.3");
  assert.equal(advertiseAddress(undefined, "0.0.0.0", { lo: lan.lo }), "127.0.0.1");
  assert.equal(advertiseAddress(undefined, "127.0.0.1", lan), "127.0.0.1");
  assert.equal(advertiseAddress("retrieval-0.rag.internal", "0.0.0.0", lan), "retrieval-0.rag.internal");
  assert.throws(() => advertiseAddress("0.0.0.0", undefined, lan), /cannot advertise "0\.0\.0\.0": it is a wildcard.*RAG_ADVERTISE_ADDRESS/);
});
