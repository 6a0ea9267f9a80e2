import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, parseEnv } from "../config.js";
import { DEFAULT_RESILIENCE, resilienceEnvSchema, resilienceSettingsFrom } from "./settings.js";

test("defaults: retries as before, least_request, Istio-like outlier ejection, breaker, bulkhead and shedding on", () => {
  assert.deepEqual(DEFAULT_RESILIENCE, {
    retries: { maxRetries: 2, initialBackoffMs: 100, maxBackoffMs: 1_000, backoffMultiplier: 2, budget: 100 },
    lbPolicy: "least_request",
    outlier: { failures: 5, failurePercent: 85, intervalMs: 10_000, baseEjectionMs: 30_000, maxEjectionMs: 300_000, maxEjectionPercent: 50 },
    breaker: { failures: 10, errorPercent: 50, openMs: 5_000, windowMs: 10_000 },
    bulkhead: { maxInFlight: 500, maxQueued: 100 },
    serverMaxInFlight: 1_000,
  });
});

test("0 turns each layer off, so Istio can take it over", () => {
  const off = resilienceSettingsFrom(
    parseEnv(resilienceEnvSchema, {
      GRPC_CLIENT_RETRIES: "0",
      GRPC_LB_POLICY: "round_robin",
      GRPC_OUTLIER_FAILURES: "0",
      GRPC_BREAKER_FAILURES: "0",
      GRPC_CLIENT_MAX_IN_FLIGHT: "0",
      GRPC_SERVER_MAX_IN_FLIGHT: "0",
    }),
  );
  assert.equal(off.retries.maxRetries, 0);
  assert.equal(off.lbPolicy, "round_robin");
  assert.equal(off.outlier.failures, 0);
  assert.equal(off.breaker.failures, 0);
  assert.equal(off.bulkhead.maxInFlight, 0);
  assert.equal(off.serverMaxInFlight, 0);
});

test("bad values are refused with the variable's name", () => {
  assert.throws(
    () => parseEnv(resilienceEnvSchema, { GRPC_LB_POLICY: "random", GRPC_CLIENT_RETRIES: "9", GRPC_OUTLIER_MAX_EJECTION_PERCENT: "150", GRPC_BREAKER_OPEN_MS: "soon" }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const text = err.problems.join("\n");
      for (const name of ["GRPC_LB_POLICY", "GRPC_CLIENT_RETRIES", "GRPC_OUTLIER_MAX_EJECTION_PERCENT", "GRPC_BREAKER_OPEN_MS"]) assert.match(text, new RegExp(`^${name}: `, "m"));
      assert.match(text, /GRPC_CLIENT_RETRIES: grpc-js allows at most 5 attempts: 4 retries/);
      return true;
    },
  );
});
