import { afterEach, test } from "node:test";
import assert from "node:assert/strict";
import { credentials, status, type ServiceError } from "@grpc/grpc-js";
import { startConsulTestServer, type ConsulTestServer } from "#testing/consul/server.js";
import { echo, EchoClient, startReplica } from "#testing/consul/replica.js";
import { ConsulRegistration } from "./consul-registration.js";
import { ConsulDiscovery } from "./consul-resolver.js";
import { parseConsulSettings, type ConsulAgentSettings } from "./consul-settings.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

// As in production, apart from the check interval: 1 s, the figure the ~2 s promise is made for.
const CHECK = { tags: [], checkInterval: "1s", checkTimeout: "500ms", deregisterCriticalServiceAfter: "1m" };

async function consul(opts: Parameters<typeof startConsulTestServer>[0] = {}): Promise<ConsulTestServer> {
  const s = await startConsulTestServer(opts);
  cleanups.push(() => s.close());
  return s;
}

function agentOf(s: ConsulTestServer, env: Record<string, string> = {}): ConsulAgentSettings {
  return parseConsulSettings({ CONSUL_HTTP_ADDR: s.address, ...env }).agent;
}

/** A running replica registered in Consul as `service`. */
async function replica(agent: ConsulAgentSettings, name: string, service = "retrieval") {
  const r = await startReplica(name);
  const reg = new ConsulRegistration(agent, CHECK, { service, grpcPort: r.grpcPort, adminPort: r.adminPort, bindHost: "127.0.0.1", idSuffix: name });
  await reg.register();
  cleanups.push(async () => (await r.stop(), reg.close()));
  return { ...r, reg };
}

function discovery(agent: ConsulAgentSettings): ConsulDiscovery {
  const d = new ConsulDiscovery(agent, { wait: "30s", debounceMs: 100 });
  cleanups.push(() => d.close());
  return d;
}

function client(target: string) {
  const c = new EchoClient(target, credentials.createInsecure(), {
    "grpc.service_config": JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
  });
  cleanups.push(() => c.close());
  return c;
}

/** Who answered `n` calls in a row. */
async function picks(c: InstanceType<typeof EchoClient>, n = 12): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(await echo(c));
  return out;
}

/** Calls until `accept` holds for a whole round of picks; returns the ms it took. */
async function untilPicks(c: InstanceType<typeof EchoClient>, what: string, accept: (names: Set<string>) => boolean, ms = 5_000): Promise<number> {
  const start = Date.now();
  for (;;) {
    const names = new Set(await picks(c, 6).catch((err: Error) => [`error: ${err.message}`]));
    if (accept(names)) return Date.now() - start;
    if (Date.now() - start > ms) throw new Error(`picks still ${[...names]} after ${ms} ms: expected ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function untilPassing(s: ConsulTestServer, n: number, service = "retrieval"): Promise<void> {
  const end = Date.now() + 5_000;
  const url = `http://${s.address}/v1/health/service/${service}?passing&token=t0ken`;
  while (((await (await fetch(url)).json()) as unknown[]).length !== n) {
    if (Date.now() > end) throw new Error(`${service} never had ${n} passing instances`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("consul resolver: target names the agent and the service", async () => {
  const s = await consul();
  const d = discovery(agentOf(s));
  assert.equal(d.target("retrieval"), `consul://${s.address}/retrieval`);
  // One agent, one way of talking to it: a second configuration for the same address is refused.
  assert.throws(() => new ConsulDiscovery(agentOf(s, { CONSUL_HTTP_TOKEN: "other" })), /already exists with other settings/);
  discovery(agentOf(s)).close(); // the same settings again are fine
});

test("consul resolver: calls go round robin over two passing replicas", async () => {
  const s = await consul();
  const agent = agentOf(s);
  await replica(agent, "a");
  await replica(agent, "b");
  await untilPassing(s, 2);
  const c = client(discovery(agent).target("retrieval"));
  await untilPicks(c, "both replicas", (n) => n.has("a") && n.has("b"));
  const names = await picks(c, 20);
  const a = names.filter((n) => n === "a").length;
  assert.equal(a, 10, `round robin alternates: ${names.join(",")}`);
});

test("consul resolver: a replica failing its check leaves the picks, a new one joins, a deregistered one leaves, with no client restart", async () => {
  const s = await consul();
  const agent = agentOf(s);
  const a = await replica(agent, "a");
  const b = await replica(agent, "b");
  await untilPassing(s, 2);
  const c = client(discovery(agent).target("retrieval"));
  await untilPicks(c, "a and b", (n) => n.has("a") && n.has("b"));

  a.setReady(false);
  const left = await untilPicks(c, "only b", (n) => n.size === 1 && n.has("b"));
  const cJoin = Date.now();
  await replica(agent, "c");
  const joined = await untilPicks(c, "b and c", (n) => n.has("b") && n.has("c") && !n.has("a"));
  const joinedAfterRegister = Date.now() - cJoin;

  await b.reg.deregister();
  const drained = await untilPicks(c, "only c", (n) => n.size === 1 && n.has("c"));
  a.setReady(true);
  const back = await untilPicks(c, "a back", (n) => n.has("a") && n.has("c"));
  console.log(`# failing replica left the picks after ${left} ms; new replica joined ${joinedAfterRegister} ms after registering (${joined} ms of calls); deregistered one left after ${drained} ms; recovered one back after ${back} ms (check interval 1 s)`);
});

test("consul resolver: with no passing instance calls fail UNAVAILABLE saying so, and succeed once one passes", async () => {
  const s = await consul();
  const agent = agentOf(s);
  const c = client(discovery(agent).target("retrieval"));
  await assert.rejects(echo(c), (err: ServiceError) => {
    assert.equal(err.code, status.UNAVAILABLE);
    assert.match(err.details, /no passing instance of "retrieval" in Consul at http:\/\/127\.0\.0\.1:\d+/);
    return true;
  });
  await replica(agent, "a");
  await untilPicks(c, "a", (n) => n.has("a"));
});

test("consul resolver: blocking queries carry the token, wait for changes instead of polling, and stop with the channel", async () => {
  const s = await consul({ aclToken: "t0ken" });
  const agent = agentOf(s, { CONSUL_HTTP_TOKEN: "t0ken" });
  await replica(agent, "a");
  const c = client(discovery(agent).target("retrieval"));
  await untilPicks(c, "a", (n) => n.has("a"));
  // The resolver's queries (the test's own probes carry ?token= instead of the header).
  const health = () => s.requests.filter((q) => q.path === "/v1/health/service/retrieval" && q.query.token === undefined);
  assert.ok(health().every((q) => q.token === "t0ken" && q.query.passing === "true"), JSON.stringify(health()));
  // Steady state: one query hangs at the agent; nothing changes, so no new ones arrive.
  const before = health().length;
  await new Promise((r) => setTimeout(r, 1_500));
  assert.ok(health().length - before <= 1, `${health().length - before} queries in 1.5 s of calm`);
  assert.ok(health().slice(1).every((q) => Number(q.query.index) >= 1 && q.query.wait === "30s"));
  c.close();
  const atClose = health().length;
  await new Promise((r) => setTimeout(r, 300));
  await replica(agent, "b"); // a change that would wake a live watch
  await untilPassing(s, 2);
  assert.equal(health().length, atClose, "a closed channel's resolver kept querying");
});

test("consul resolver: a wrong token fails calls with the agent's answer instead of hanging", async () => {
  const s = await consul({ aclToken: "t0ken" });
  await replica(agentOf(s, { CONSUL_HTTP_TOKEN: "t0ken" }), "a");
  const c = client(discovery(agentOf(s, { CONSUL_HTTP_TOKEN: "wrong" })).target("retrieval"));
  await assert.rejects(echo(c), (err: ServiceError) => {
    assert.equal(err.code, status.UNAVAILABLE);
    assert.match(err.details, /consul agent at http:\/\/127\.0\.0\.1:\d+ could not list the passing instances of retrieval: 403 ACL not found/);
    return true;
  });
});
