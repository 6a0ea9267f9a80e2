import { afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { status, type ServiceError } from "@grpc/grpc-js";
import { LoadShedder, sheddingInterceptor, shedOrEnter } from "./shedding.js";
import { echoClient, startReplica } from "./test-echo.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(maxInFlight: number, delayMs: number) {
  const shedder = new LoadShedder("query", maxInFlight);
  const replica = await startReplica({ delayMs }, [sheddingInterceptor(shedder)]);
  const client = echoClient(`ipv4:${replica.address}`);
  cleanups.push(() => replica.stop(), () => client.close());
  return { shedder, replica, client };
}

async function timed(p: Promise<unknown>): Promise<{ err?: ServiceError; ms: number }> {
  const started = Date.now();
  const err = await p.then(() => undefined, (e: ServiceError) => e);
  return { err, ms: Date.now() - started };
}

const until = async (check: () => boolean) => {
  for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
};

describe("load shedding", () => {
  test("tryEnter/leave bound the calls in flight; 0 means no bound", () => {
    const s = new LoadShedder("query", 2);
    assert.ok(s.tryEnter());
    assert.ok(s.tryEnter());
    assert.equal(s.tryEnter(), false);
    s.leave();
    assert.ok(s.tryEnter());
    assert.deepEqual(s.error, { code: status.RESOURCE_EXHAUSTED, details: "service query is over its limit of 2 calls in flight; retry later" });
    const unbounded = new LoadShedder("query", 0);
    for (let i = 0; i < 1_000; i++) assert.ok(unbounded.tryEnter());
    assert.throws(() => new LoadShedder("query", -1), /load shedding for query: maxInFlight must be a whole number ≥ 0, got -1/);
  });

  test("shedOrEnter never sheds health or reflection, and releases once", () => {
    const s = new LoadShedder("query", 1);
    const first = shedOrEnter(s, "/meshtest.v1.EchoService/Echo");
    assert.ok("release" in first);
    assert.deepEqual(shedOrEnter(s, "/meshtest.v1.EchoService/Echo"), s.error);
    assert.ok("release" in shedOrEnter(s, "/grpc.health.v1.Health/Check"));
    assert.ok("release" in shedOrEnter(s, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"));
    first.release();
    first.release();
    assert.equal(s.inFlight, 0);
  });

  test("a server over its bound answers RESOURCE_EXHAUSTED at once; health checks still pass", async () => {
    const { shedder, replica, client } = await setup(2, 600);
    await client.health(); // connection up
    const admitted = [timed(client.echo()), timed(client.echo())];
    await until(() => shedder.inFlight === 2);
    assert.equal(shedder.inFlight, 2);
    const shed = await timed(client.echo());
    assert.equal(shed.err?.code, status.RESOURCE_EXHAUSTED);
    assert.equal(shed.err?.details, "service query is over its limit of 2 calls in flight; retry later");
    assert.ok(shed.ms < 300, `shed after ${shed.ms} ms, not after the others`);
    assert.equal(await client.health(), "SERVING", "probes are never shed");
    for (const r of await Promise.all(admitted)) assert.equal(r.err, undefined);
    assert.equal(replica.served, 2, "the shed call never reached its handler");
    assert.equal(shedder.inFlight, 0);
    assert.equal((await timed(client.echo())).err, undefined, "calls are admitted again");
  });

  test("a stream counts while it is open; a cancelled call gives its slot back", async () => {
    const { shedder, client } = await setup(1, 300);
    const stream = client.stream(2);
    await until(() => shedder.inFlight === 1);
    assert.equal((await timed(client.echo())).err?.code, status.RESOURCE_EXHAUSTED);
    assert.deepEqual(await stream, ["s 0", "s 1"]);
    assert.equal(shedder.inFlight, 0);

    const cancelled = client.echo("x", { deadlineMs: 100, waitMs: 2_000 });
    assert.equal((await timed(cancelled)).err?.code, status.DEADLINE_EXCEEDED);
    await until(() => shedder.inFlight === 0);
    assert.equal(shedder.inFlight, 0, "the slot is free before the handler finishes");
  });
});
