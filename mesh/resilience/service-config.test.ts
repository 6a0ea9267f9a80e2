import { afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { status, type ServiceError } from "@grpc/grpc-js";
import { buildServiceConfig, idempotentMethods } from "./service-config.js";
import { DEFAULT_RESILIENCE, type ResilienceSettings } from "./settings.js";
import { ECHO_SERVICE, echoClient, echoMethods, runConcurrently, startReplica, type Replica } from "./test-echo.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const idempotent = idempotentMethods(ECHO_SERVICE, echoMethods);

function settings(over: Partial<ResilienceSettings>): ResilienceSettings {
  return { ...DEFAULT_RESILIENCE, ...over };
}

async function replicas(n: number): Promise<Replica[]> {
  const out: Replica[] = [];
  for (let i = 0; i < n; i++) out.push(await startReplica());
  for (const r of out) cleanups.push(() => r.stop());
  return out;
}

const codeOf = (p: Promise<unknown>) => p.then(() => status.OK, (e: ServiceError) => e.code);

describe("service config", () => {
  test("finds the idempotent methods from the proto and retries only those", () => {
    assert.deepEqual(idempotent, [{ service: ECHO_SERVICE, method: "Echo" }]); // EchoStream has no idempotency_level
    const config = buildServiceConfig(idempotent, DEFAULT_RESILIENCE) as any;
    assert.deepEqual(config.methodConfig[0].name, idempotent);
    assert.deepEqual(config.methodConfig[0].retryPolicy, { maxAttempts: 3, initialBackoff: "0.1s", maxBackoff: "1s", backoffMultiplier: 2, retryableStatusCodes: ["UNAVAILABLE"] });
    assert.deepEqual(config.retryThrottling, { maxTokens: 100, tokenRatio: 0.1 });
    const od = config.loadBalancingConfig[0].outlier_detection;
    assert.deepEqual(od.child_policy, [{ least_request: {} }]);
    assert.deepEqual(od.base_ejection_time, { seconds: 30, nanos: 0 });
    assert.equal(od.failure_percentage_ejection.request_volume, 5);
  });

  test("0 turns a layer off: no retries, no outlier ejection", () => {
    const off = buildServiceConfig(idempotent, settings({ retries: { ...DEFAULT_RESILIENCE.retries, maxRetries: 0 }, outlier: { ...DEFAULT_RESILIENCE.outlier, failures: 0 }, lbPolicy: "round_robin" })) as any;
    assert.deepEqual(off, { loadBalancingConfig: [{ round_robin: {} }], methodConfig: [] });
  });

  test("grpc-js accepts the config: calls succeed across both replicas", async () => {
    const [a, b] = await replicas(2);
    const client = echoClient(`ipv4:${a!.address},${b!.address}`, buildServiceConfig(idempotent, DEFAULT_RESILIENCE));
    cleanups.push(() => client.close());
    for (let i = 0; i < 40; i++) await client.echo();
    assert.ok(a!.served > 0 && b!.served > 0, `split ${a!.served}/${b!.served}`);
  });

  test("outlier detection ejects a replica that keeps failing, then brings it back when its ejection ends", async () => {
    const [good, bad] = await replicas(2);
    bad!.behaviour.fail = status.INTERNAL; // not retried: every failure reaches the outlier counters
    const config = buildServiceConfig(
      idempotent,
      settings({ outlier: { failures: 5, failurePercent: 50, intervalMs: 200, baseEjectionMs: 1_000, maxEjectionMs: 10_000, maxEjectionPercent: 50 } }),
    );
    const client = echoClient(`ipv4:${good!.address},${bad!.address}`, config);
    cleanups.push(() => client.close());

    // Until ejected, about half the calls fail; once ejected, 30 calls in a row succeed (bounded loop).
    let streak = 0;
    let sawFailure = false;
    const until = Date.now() + 8_000;
    while (streak < 30 && Date.now() < until) {
      const code = await codeOf(client.echo());
      if (code !== status.OK) sawFailure = true;
      streak = code === status.OK ? streak + 1 : 0;
      if (code === status.OK) await new Promise((r) => setTimeout(r, 5));
    }
    assert.ok(sawFailure, "the failing replica was called before it was ejected");
    assert.equal(streak, 30, "the failing replica left the picks");

    // It recovers; when the ejection time is up it gets calls again (no active probe: traffic is the probe).
    bad!.behaviour.fail = undefined;
    const before = bad!.served;
    const back = Date.now() + 8_000;
    while (bad!.served === before && Date.now() < back) {
      await client.echo();
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(bad!.served > before, "the replica was brought back after its ejection");
  });

  test("outlier detection also ejects a replica that stops answering (its calls end DEADLINE_EXCEEDED)", async () => {
    const [good, hung] = await replicas(2);
    hung!.behaviour.delayMs = 1_500;
    // round_robin keeps sending the hung replica its share; least_request would mostly avoid it by itself.
    const config = buildServiceConfig(
      idempotent,
      settings({ lbPolicy: "round_robin", outlier: { failures: 5, failurePercent: 50, intervalMs: 300, baseEjectionMs: 5_000, maxEjectionMs: 10_000, maxEjectionPercent: 50 } }),
    );
    const client = echoClient(`ipv4:${good!.address},${hung!.address}`, config);
    cleanups.push(() => client.close());
    let allOk = false;
    let timedOut = 0;
    const until = Date.now() + 8_000;
    while (!allOk && Date.now() < until) {
      const codes = await runConcurrently(16, 8, () => codeOf(client.echo("x", { deadlineMs: 100 })));
      const failed = codes.filter((c) => c.status === "fulfilled" && c.value !== status.OK).length;
      timedOut += failed;
      allOk = failed === 0;
    }
    assert.ok(timedOut > 0, "calls to the hung replica timed out before it was ejected");
    assert.ok(allOk, "16 calls in a row, round robin, all answered: the hung replica left the picks");
  });

  test("retries idempotent calls on UNAVAILABLE with backoff, never past the caller's deadline", async () => {
    const [r] = await replicas(1);
    const fastRetry = settings({ retries: { maxRetries: 4, initialBackoffMs: 10, maxBackoffMs: 50, backoffMultiplier: 2, budget: 100 } });
    const client = echoClient(`ipv4:${r!.address}`, buildServiceConfig(idempotent, fastRetry));
    cleanups.push(() => client.close());
    r!.behaviour.fail = status.UNAVAILABLE;
    r!.behaviour.failTimes = 2;
    await client.echo(); // two failures retried away
    assert.equal(r!.served, 3);

    // Long backoffs, short deadline: the call ends at its deadline, not after the retries' waits.
    const slowRetry = settings({ retries: { maxRetries: 4, initialBackoffMs: 2_000, maxBackoffMs: 5_000, backoffMultiplier: 2, budget: 100 } });
    const bounded = echoClient(`ipv4:${r!.address}`, buildServiceConfig(idempotent, slowRetry));
    cleanups.push(() => bounded.close());
    r!.behaviour.failTimes = undefined;
    const started = Date.now();
    const code = await codeOf(bounded.echo("x", { deadlineMs: 300 }));
    const took = Date.now() - started;
    assert.equal(code, status.DEADLINE_EXCEEDED);
    assert.ok(took < 1_500, `took ${took} ms, well under the first backoff of ~2 s`);
  });

  test("the non-idempotent stream is not retried", async () => {
    const [r] = await replicas(1);
    const client = echoClient(`ipv4:${r!.address}`, buildServiceConfig(idempotent, DEFAULT_RESILIENCE));
    cleanups.push(() => client.close());
    r!.behaviour.fail = status.UNAVAILABLE;
    assert.equal(await codeOf(client.stream(1)), status.UNAVAILABLE);
    assert.equal(r!.served, 1);
  });
});
