import { afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { experimental } from "@grpc/grpc-js";
import { LEAST_REQUEST, LeastRequestConfig, registerLeastRequest } from "./least-request.js";
import { echoClient, runConcurrently, startReplica, type Replica } from "./test-echo.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function twoReplicas(slowMs: number): Promise<[Replica, Replica]> {
  const fast = await startReplica();
  const slow = await startReplica({ delayMs: slowMs });
  cleanups.push(() => fast.stop(), () => slow.stop());
  return [fast, slow];
}

/** Sends `total` calls at concurrency 8 through `policy`; the slow replica's share of them. */
async function slowShare(policy: string, fast: Replica, slow: Replica, total = 120): Promise<number> {
  const client = echoClient(`ipv4:${fast.address},${slow.address}`, { loadBalancingConfig: [{ [policy]: {} }] });
  cleanups.push(() => client.close());
  await client.echo("warm-up"); // both connections up before counting
  await runConcurrently(8, 8, () => client.echo());
  fast.served = slow.served = 0;
  const results = await runConcurrently(total, 8, () => client.echo());
  assert.equal(results.filter((r) => r.status === "rejected").length, 0, "no call fails");
  assert.equal(fast.served + slow.served, total);
  return slow.served / total;
}

describe("least_request balancer", () => {
  test("sends most calls away from a slow replica, where round_robin splits them evenly", async () => {
    registerLeastRequest();
    // A slow replica 200 ms behind: far enough that a loaded test machine cannot blur the difference.
    const [fast, slow] = await twoReplicas(200);
    const rr = await slowShare("round_robin", fast, slow);
    const lr = await slowShare(LEAST_REQUEST, fast, slow);
    // round_robin alternates whatever the load; least_request sees the slow replica's calls pile up.
    assert.ok(rr > 0.4 && rr < 0.6, `round_robin gave the slow replica ${rr}`);
    assert.ok(lr < 0.3, `least_request gave the slow replica ${lr}`);
    assert.ok(lr > 0, "the slow replica still gets some calls (it is not ejected, only less loaded)");
  });

  test("uses every replica when they are alike, and keeps working when one goes away", async () => {
    registerLeastRequest();
    const [a, b] = await twoReplicas(5);
    b.behaviour.delayMs = 5;
    const client = echoClient(`ipv4:${a.address},${b.address}`, { loadBalancingConfig: [{ [LEAST_REQUEST]: {} }] });
    cleanups.push(() => client.close());
    await runConcurrently(100, 8, () => client.echo());
    assert.ok(a.served > 20 && b.served > 20, `split ${a.served}/${b.served}`);
    await b.stop();
    // Calls in flight on the stopped replica may fail while the channel notices; after that, all succeed.
    let ok = 0;
    for (let i = 0; i < 200 && ok < 20; i++) ok = (await client.echo().then(() => true, () => false)) ? ok + 1 : 0;
    assert.equal(ok, 20, "20 calls in a row succeed on the remaining replica");
  });

  test("registration is idempotent and the config is validated", () => {
    registerLeastRequest();
    registerLeastRequest();
    assert.ok(experimental.isLoadBalancerNameRegistered(LEAST_REQUEST));
    assert.equal(LeastRequestConfig.createFromJson({}).choiceCount, 2);
    assert.equal(LeastRequestConfig.createFromJson({ choiceCount: 3 }).choiceCount, 3);
    assert.throws(() => LeastRequestConfig.createFromJson({ choiceCount: 1 }), /choiceCount must be an integer of at least 2, got 1/);
    const parsed = experimental.parseLoadBalancingConfig({ [LEAST_REQUEST]: {} });
    assert.deepEqual(parsed.toJsonObject(), { least_request: { choiceCount: 2 } });
  });
});
