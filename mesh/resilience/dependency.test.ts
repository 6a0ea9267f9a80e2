import { afterEach, test } from "node:test";
import assert from "node:assert/strict";
import { status, type ServiceError } from "@grpc/grpc-js";
import { dependencyResilience } from "./dependency.js";
import { idempotentMethods } from "./service-config.js";
import { DEFAULT_RESILIENCE } from "./settings.js";
import { ECHO_SERVICE, echoClient, echoMethods, startReplica } from "./test-echo.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const errorOf = (p: Promise<unknown>) => p.then(() => undefined, (e: ServiceError) => e);

test("all layers off: no interceptors, a plain round_robin config", () => {
  const off = dependencyResilience("echo", [], {
    ...DEFAULT_RESILIENCE,
    lbPolicy: "round_robin",
    outlier: { ...DEFAULT_RESILIENCE.outlier, failures: 0 },
    breaker: { ...DEFAULT_RESILIENCE.breaker, failures: 0 },
    bulkhead: { maxInFlight: 0, maxQueued: 0 },
  });
  assert.deepEqual(off.interceptors, []);
  assert.deepEqual(off.serviceConfig, { loadBalancingConfig: [{ round_robin: {} }], methodConfig: [] });
});

test("composed: calls the open breaker refuses give their bulkhead slot back at once", async () => {
  const [a, b] = [await startReplica(), await startReplica()];
  const layers = dependencyResilience("echo", idempotentMethods(ECHO_SERVICE, echoMethods), {
    ...DEFAULT_RESILIENCE,
    retries: { ...DEFAULT_RESILIENCE.retries, maxRetries: 0 },
    breaker: { failures: 4, errorPercent: 50, openMs: 60_000, windowMs: 10_000 },
    bulkhead: { maxInFlight: 2, maxQueued: 0 },
  });
  const client = echoClient(`ipv4:${a.address},${b.address}`, layers.serviceConfig, layers.interceptors);
  cleanups.push(() => a.stop(), () => b.stop(), () => client.close(), () => layers.close());
  for (let i = 0; i < 10; i++) assert.equal(await errorOf(client.echo()), undefined);

  a.behaviour.fail = b.behaviour.fail = status.UNAVAILABLE;
  // The window also holds the 10 successes: it opens once more than half of its calls failed.
  for (let i = 0; i < 40 && layers.breaker!.state === "closed"; i++) {
    await errorOf(client.echo());
    await new Promise((r) => setImmediate(r));
  }
  assert.equal(layers.breaker!.state, "open");
  // More refusals than the bulkhead has slots, two at a time: each frees its slot as it is refused.
  for (let i = 0; i < 10; i++) {
    const errors = await Promise.all([errorOf(client.echo()), errorOf(client.echo())]);
    for (const e of errors) assert.match(e!.details, /^echo is unavailable: circuit open after \d+ failures/);
  }
  assert.equal(layers.bulkhead!.inFlight, 0);
});
