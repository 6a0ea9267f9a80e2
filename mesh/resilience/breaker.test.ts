import { afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { DETAILS_TRAILER } from "../errors.js";
import { breakerInterceptor, DependencyBreaker } from "./breaker.js";
import type { BreakerSettings } from "./settings.js";
import { echoClient, startReplica } from "./test-echo.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const SETTINGS: BreakerSettings = { failures: 5, errorPercent: 50, openMs: 500, windowMs: 10_000 };

async function setup(settings = SETTINGS) {
  const replica = await startReplica();
  const breaker = new DependencyBreaker("echo", settings);
  // No service config: no retries, so each call is one attempt the test can count.
  const client = echoClient(`ipv4:${replica.address}`, {}, [breaker.interceptor]);
  cleanups.push(() => replica.stop(), () => client.close(), () => breaker.shutdown());
  return { replica, breaker, client };
}

/** Lets opossum's promise handlers run after the caller saw the status. */
const settled = () => new Promise((r) => setImmediate(r));
const errorOf = (p: Promise<unknown>) => p.then(() => undefined, (e: ServiceError) => e);

describe("circuit breaker interceptor", () => {
  test("opens after transport failures: calls fail fast with UNAVAILABLE naming the dependency, then a probe closes it", async () => {
    const { replica, breaker, client } = await setup();
    replica.behaviour.fail = status.UNAVAILABLE;
    for (let i = 0; i < 5; i++) assert.equal((await errorOf(client.echo()))?.code, status.UNAVAILABLE);
    await settled();
    assert.equal(breaker.state, "open");

    const served = replica.served;
    const started = Date.now();
    const refused = await errorOf(client.echo("x", { deadlineMs: 10_000 }));
    assert.ok(Date.now() - started < 1_000, "refused at once, not after the 10 s deadline");
    assert.equal(refused?.code, status.UNAVAILABLE);
    assert.match(refused!.details, /^echo is unavailable: circuit open after 5 failures; retrying in \d+\.\d s$/);
    assert.equal(replica.served, served, "a refused call never reaches the dependency");

    // The dependency recovers; after openMs one probe goes through and closes the circuit (bounded wait).
    replica.behaviour.fail = undefined;
    let ok = false;
    for (let i = 0; i < 50 && !ok; i++) {
      ok = (await errorOf(client.echo())) === undefined;
      if (!ok) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(ok, "a call succeeds again");
    await settled();
    assert.equal(breaker.state, "closed");
    for (let i = 0; i < 5; i++) assert.equal(await errorOf(client.echo()), undefined);
  });

  test("a failed probe keeps it open", async () => {
    const { replica, breaker, client } = await setup();
    replica.behaviour.fail = status.UNAVAILABLE;
    for (let i = 0; i < 5; i++) await errorOf(client.echo());
    await settled();
    assert.equal(breaker.state, "open");
    const served = replica.served;
    for (let i = 0; i < 50 && replica.served === served; i++) {
      await errorOf(client.echo());
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(replica.served, served + 1, "exactly one probe reached the dependency");
    await settled();
    assert.equal(breaker.state, "open");
  });

  test("does not open on the caller's errors (INVALID_ARGUMENT, NOT_FOUND)", async () => {
    const { replica, breaker, client } = await setup();
    for (const code of [status.INVALID_ARGUMENT, status.NOT_FOUND]) {
      replica.behaviour.fail = code;
      for (let i = 0; i < 15; i++) assert.equal((await errorOf(client.echo()))?.code, code);
    }
    assert.equal(breaker.state, "closed");
    assert.equal(replica.served, 30, "every call reached the dependency");
  });

  test("does not open on an UNAVAILABLE the dependency answered itself (a mesh status: its own store is down)", async () => {
    const { replica, breaker, client } = await setup();
    const trailers = new Metadata();
    trailers.set(DETAILS_TRAILER, Buffer.from("{}"));
    replica.behaviour.fail = status.UNAVAILABLE;
    replica.behaviour.failMetadata = trailers;
    for (let i = 0; i < 15; i++) assert.equal((await errorOf(client.echo()))?.code, status.UNAVAILABLE);
    await settled();
    assert.equal(breaker.state, "closed");
    assert.equal(replica.served, 15, "every call reached the dependency, which said why itself");
  });

  test("counts DEADLINE_EXCEEDED (a hung dependency) and failed streams", async () => {
    const { replica, breaker, client } = await setup();
    replica.behaviour.delayMs = 1_000;
    for (let i = 0; i < 3; i++) assert.equal((await errorOf(client.echo("x", { deadlineMs: 50 })))?.code, status.DEADLINE_EXCEEDED);
    replica.behaviour.delayMs = 0;
    replica.behaviour.fail = status.UNAVAILABLE;
    for (let i = 0; i < 2; i++) assert.equal((await errorOf(client.stream(3)))?.code, status.UNAVAILABLE);
    await settled();
    assert.equal(breaker.state, "open");
    const refused = await errorOf(client.stream(3));
    assert.equal(refused?.code, status.UNAVAILABLE);
    assert.match(refused!.details, /circuit open/);
  });

  test("successful streams pass through untouched", async () => {
    const { client } = await setup();
    assert.deepEqual(await client.stream(3), ["s 0", "s 1", "s 2"]);
  });

  test("0 failures means no breaker", () => {
    assert.equal(breakerInterceptor("echo", { ...SETTINGS, failures: 0 }), undefined);
    assert.equal(typeof breakerInterceptor("echo", SETTINGS), "function");
  });
});
