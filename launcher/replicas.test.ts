import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { CATALOGUE, SERVICE_NAMES } from "#mesh/catalogue.js";
import { ConfigError, loadConfig } from "#launcher/config.js";
import { endpointsVariable, planEndpoints, portBlockSize } from "#launcher/endpoints.js";
import { planReplicaStores, ReplicaRefusal } from "#launcher/replica-stores.js";
import { logSources } from "#launcher/stack.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const load = (env: NodeJS.ProcessEnv) => loadConfig(env, "/repo");
const refusedFor = (variable: string, part: RegExp) => (err: unknown) => err instanceof ConfigError && err.variable === variable && part.test(err.message);

describe("RAG_REPLICAS", () => {
  test("unset or empty: every service once", () => {
    assert.deepEqual(load({}).replicas, {});
    assert.deepEqual(load({ RAG_REPLICAS: " " }).replicas, {});
  });

  test("name=count pairs, spaces tolerated", () => {
    assert.deepEqual(load({ RAG_REPLICAS: "query=2,retrieval=2, embeddings = 3,generation=1" }).replicas, { query: 2, retrieval: 2, embeddings: 3, generation: 1 });
  });

  test("bad parts are named", () => {
    assert.throws(() => load({ RAG_REPLICAS: "quer=2" }), refusedFor("RAG_REPLICAS", /unknown service "quer"/));
    assert.throws(() => load({ RAG_REPLICAS: "query=0" }), refusedFor("RAG_REPLICAS", /"query=0".*1 to 8/));
    assert.throws(() => load({ RAG_REPLICAS: "query=9" }), refusedFor("RAG_REPLICAS", /"query=9".*1 to 8/));
    assert.throws(() => load({ RAG_REPLICAS: "query=two" }), refusedFor("RAG_REPLICAS", /"query=two"/));
    assert.throws(() => load({ RAG_REPLICAS: "query" }), refusedFor("RAG_REPLICAS", /"query" is not name=count/));
    assert.throws(() => load({ RAG_REPLICAS: "query=2,query=3" }), refusedFor("RAG_REPLICAS", /named twice/));
    assert.throws(() => load({ RAG_SERVICES: "documents", RAG_REPLICAS: "query=2" }), refusedFor("RAG_REPLICAS", /query is not started/));
  });

  test("RAG_REDIS_PORT moves the launcher's Redis", () => {
    assert.equal(load({}).redisPort, undefined);
    assert.equal(load({ RAG_REDIS_PORT: "6400" }).redisPort, 6400);
    assert.throws(() => load({ RAG_REDIS_PORT: "0" }), refusedFor("RAG_REDIS_PORT", /whole number/));
  });

  test("a port base leaves room for every replica", () => {
    assert.equal(portBlockSize({ query: 3 }), SERVICE_NAMES.length * 3);
    assert.equal(load({ RAG_GRPC_PORT_BASE: String(65536 - 16), RAG_REPLICAS: "query=2" }).grpcPortBase, 65536 - 16);
    assert.throws(() => load({ RAG_GRPC_PORT_BASE: String(65536 - 16), RAG_REPLICAS: "query=3" }), refusedFor("RAG_GRPC_PORT_BASE", /whole number/));
  });
});

describe("port planning", () => {
  test("replica 1 keeps the catalogue ports; without replicas nothing changes", () => {
    const plain = planEndpoints();
    assert.deepEqual(plain.map((e) => [e.id, e.grpcPort, e.adminPort]), SERVICE_NAMES.map((n) => [n, CATALOGUE[n].grpcPort, CATALOGUE[n].adminPort]));
    const replicated = planEndpoints({}, { query: 2 });
    assert.equal(replicated.find((e) => e.id === "query#1")!.grpcPort, CATALOGUE.query.grpcPort);
    assert.equal(replicated.find((e) => e.id === "query#1")!.adminPort, CATALOGUE.query.adminPort);
    assert.deepEqual(
      replicated.filter((e) => e.name === "query").map((e) => e.id),
      ["query#1", "query#2"],
    );
  });

  test("every process of the biggest plan gets its own ports, none of them another service's catalogue port", () => {
    const all = Object.fromEntries(SERVICE_NAMES.map((n) => [n, 8]));
    for (const bases of [{}, { grpcPortBase: 20000, adminPortBase: 30000 }]) {
      const plan = planEndpoints(bases, all);
      assert.equal(plan.length, SERVICE_NAMES.length * 8);
      const ports = plan.flatMap((e) => [e.grpcPort, e.adminPort]);
      assert.equal(new Set(ports).size, ports.length, "a port planned twice");
      assert.ok(ports.every((p) => p > 0 && p < 65536));
    }
    const catalogue = new Set(SERVICE_NAMES.flatMap((n) => [CATALOGUE[n].grpcPort, CATALOGUE[n].adminPort]));
    const extra = planEndpoints({}, { query: 2, retrieval: 2, embeddings: 2, generation: 2 }).filter((e) => e.replica > 1);
    assert.ok(extra.every((e) => !catalogue.has(e.grpcPort) && !catalogue.has(e.adminPort)));
    assert.deepEqual(
      extra.map((e) => [e.id, e.grpcPort, e.adminPort]),
      [
        ["embeddings#2", 50061, 9611],
        ["retrieval#2", 50062, 9612],
        ["generation#2", 50063, 9613],
        ["query#2", 50064, 9614],
      ],
    );
  });

  test("RAG_ENDPOINTS lists a replicated service's replicas in one entry", () => {
    const value = endpointsVariable(planEndpoints({}, { query: 2 }));
    assert.match(value, /(^|,)query=127\.0\.0\.1:50056\|127\.0\.0\.1:50064(,|$)/);
    assert.match(value, /(^|,)documents=127\.0\.0\.1:50051(,|$)/);
    assert.equal(value.split(",").length, SERVICE_NAMES.length);
  });

  test("log sources name every process", () => {
    const sources = logSources(["query", "retrieval"], { query: 2 });
    assert.deepEqual(sources, ["launcher", "postgres", "redis", "retrieval", "query#1", "query#2", "gateway"]);
  });
});

describe("stores shared by replicas", () => {
  test("query replicas need Redis: REDIS_URL, or a redis-server the launcher starts, or a refusal that says why", () => {
    assert.deepEqual(planReplicaStores({ query: 2 }, { REDIS_URL: "redis://r:6379" }), {});
    assert.deepEqual(planReplicaStores({ query: 1 }, { PATH: "" }), {});
    assert.throws(
      () => planReplicaStores({ query: 2 }, { PATH: "" }),
      (err: unknown) => err instanceof ReplicaRefusal && /process memory/.test(err.message) && /REDIS_URL/.test(err.message) && /redis-server/.test(err.message),
    );
  });

  test("the other services need nothing more", () => {
    assert.deepEqual(planReplicaStores({ retrieval: 2, embeddings: 8, generation: 2, documents: 2, ingestion: 2, identity: 2, notifications: 2 }, { PATH: "" }), {});
  });
});

describe("make run with replicas it cannot honour", () => {
  const launch = (env: NodeJS.ProcessEnv) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ["--import", "tsx", "launcher/main.ts"], { cwd: ROOT, env, stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      child.on("exit", (code) => resolve({ code, stderr }));
    });

  test("a bad RAG_REPLICAS stops the launcher (exit 2) naming the variable and the part", { timeout: 60_000 }, async () => {
    const { code, stderr } = await launch({ PATH: process.env.PATH, RAG_REPLICAS: "query=2,retreival=2" });
    assert.equal(code, 2, stderr);
    assert.match(stderr, /RAG_REPLICAS: unknown service "retreival"/);
  });

  test("query replicas without Redis are refused before anything starts, saying why and what to set", { timeout: 60_000 }, async () => {
    const { code, stderr } = await launch({ PATH: "", RAG_REPLICAS: "query=2", RAG_DATA_DIR: "/nonexistent/rag-replicas-test" });
    assert.equal(code, 1, stderr);
    assert.match(stderr, /query=2 needs a store its replicas share.*process memory.*REDIS_URL/s);
  });
});
