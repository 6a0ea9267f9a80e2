import { afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { Bulkhead, bulkheadInterceptor } from "./bulkhead.js";
import { echoClient, startReplica } from "./test-echo.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(maxInFlight: number, maxQueued: number, delayMs: number) {
  const replica = await startReplica({ delayMs });
  const bulkhead = new Bulkhead("retrieval", { maxInFlight, maxQueued });
  const client = echoClient(`ipv4:${replica.address}`, {}, [bulkhead.interceptor]);
  cleanups.push(() => replica.stop(), () => client.close());
  await client.echo("warm-up").catch(() => {});
  return { replica, bulkhead, client };
}

/** The call's error (undefined on success) and how long it took. */
async function timed(p: Promise<unknown>): Promise<{ err?: ServiceError; ms: number }> {
  const started = Date.now();
  const err = await p.then(() => undefined, (e: ServiceError) => e);
  return { err, ms: Date.now() - started };
}

describe("bulkhead interceptor", () => {
  test("beyond the bound and its queue, a call is refused at once with RESOURCE_EXHAUSTED naming the dependency", async () => {
    const { replica, bulkhead, client } = await setup(2, 1, 800);
    replica.served = 0;
    const calls = [0, 1, 2].map(() => timed(client.echo()));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(bulkhead.inFlight, 2);
    assert.equal(bulkhead.queued, 1);
    const refused = await timed(client.echo());
    assert.equal(refused.err?.code, status.RESOURCE_EXHAUSTED);
    assert.match(refused.err!.details, /^retrieval has 2 calls in flight, its bulkhead limit \(GRPC_CLIENT_MAX_IN_FLIGHT\), and 1 waiting \(GRPC_CLIENT_MAX_QUEUED\); call refused, retry later$/);
    assert.ok(refused.ms < 400, `refused after ${refused.ms} ms, not after the others`);

    // The queued call runs once a slot frees; every admitted call succeeds.
    for (const r of await Promise.all(calls)) assert.equal(r.err, undefined);
    assert.equal(replica.served, 3, "the refused call never reached the dependency");
    assert.equal(bulkhead.inFlight, 0);
    assert.equal(bulkhead.queued, 0);
  });

  test("a queued call waits no longer than its deadline", async () => {
    const { bulkhead, client } = await setup(1, 5, 1_000);
    const holder = timed(client.echo());
    await new Promise((r) => setTimeout(r, 30));
    const waited = await timed(client.echo("x", { deadlineMs: 100 }));
    assert.equal(waited.err?.code, status.RESOURCE_EXHAUSTED);
    assert.match(waited.err!.details, /no slot freed within the call's deadline/);
    assert.ok(waited.ms < 700, `gave up after ${waited.ms} ms`);
    assert.equal(bulkhead.queued, 0);
    assert.equal((await holder).err, undefined);
  });

  test("a queued call can be cancelled, and frees nothing it did not hold", async () => {
    const { bulkhead, client } = await setup(1, 5, 300);
    const holder = timed(client.echo());
    await new Promise((r) => setTimeout(r, 30));
    const queued = new Promise<ServiceError>((resolve) => {
      const call = client.raw.Echo({ text: "q" }, new Metadata(), { deadline: Date.now() + 5_000 }, (e: ServiceError) => resolve(e));
      setTimeout(() => call.cancel(), 30);
    });
    assert.equal((await queued).code, status.CANCELLED);
    assert.equal(bulkhead.queued, 0);
    assert.equal(bulkhead.inFlight, 1);
    assert.equal((await holder).err, undefined);
    assert.equal(bulkhead.inFlight, 0);
  });

  test("a server stream holds its slot until it ends", async () => {
    const { bulkhead, client } = await setup(1, 0, 200);
    const stream = client.stream(2);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(bulkhead.inFlight, 1);
    assert.equal((await timed(client.echo())).err?.code, status.RESOURCE_EXHAUSTED);
    assert.deepEqual(await stream, ["s 0", "s 1"]);
    assert.equal(bulkhead.inFlight, 0);
  });

  test("0 means no bulkhead", () => {
    assert.equal(bulkheadInterceptor("x", { maxInFlight: 0, maxQueued: 0 }), undefined);
  });
});
