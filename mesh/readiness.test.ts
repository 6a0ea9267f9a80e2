/**
 * gRPC health follows the service's own readiness (its stores), both ways, and nothing else: a check that
 * fails turns it NOT_SERVING, a passing one SERVING again; a check that hangs counts as failed.
 */
import assert from "node:assert/strict";
import { afterEach, describe, test } from "node:test";
import { credentials, loadPackageDefinition } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { protoPath as healthProtoPath } from "grpc-health-check";
import { runtime } from "#testing/runtime.js";
import { startServer, watchReadiness } from "./server.js";

const healthPkg = loadPackageDefinition(loadSync(healthProtoPath, { enums: String })) as any;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe("readiness and gRPC health", () => {
  test("a service whose own store fails reports NOT_SERVING, and SERVING again once the store is back", { timeout: 30_000 }, async () => {
    let storeUp = true;
    const server = await startServer([], {
      grpcHost: "127.0.0.1",
      grpcPort: 0,
      adminHost: "127.0.0.1",
      adminPort: 0,
      defaultDeadlineMs: 5_000,
      shutdownDelayMs: 0,
      shutdownGraceMs: 1_000,
      protoFiles: ["rag/v1/embeddings.proto"],
      verifier: runtime.verifier,
      ready: async () => {
        if (!storeUp) throw new Error("connect ECONNREFUSED (the database)");
      },
      readinessIntervalMs: 20,
    });
    cleanups.push(() => server.shutdown());
    const health = new healthPkg.grpc.health.v1.Health(`127.0.0.1:${server.grpcPort}`, credentials.createInsecure());
    cleanups.push(() => health.close());

    // Every status the Watch stream reports, in order; `next(s)` resolves when `s` is reported.
    const seen: string[] = [];
    const waiters: [string, () => void][] = [];
    const stream = health.Watch({ service: "" });
    stream.on("data", (m: { status: string }) => {
      seen.push(m.status);
      for (const [i, [want, wake]] of [...waiters.entries()].reverse()) if (want === m.status) (waiters.splice(i, 1), wake());
    });
    stream.on("error", () => undefined);
    cleanups.push(() => stream.cancel());
    const next = (want: string) => new Promise<void>((resolve) => waiters.push([want, resolve]));

    const serving = next("SERVING");
    await serving;
    const down = next("NOT_SERVING");
    storeUp = false;
    await down;
    const readyz = await fetch(`http://127.0.0.1:${server.adminPort}/readyz`);
    assert.equal(readyz.status, 503);
    assert.match(await readyz.text(), /ECONNREFUSED/);

    const up = next("SERVING");
    storeUp = true;
    await up;
    assert.deepEqual(seen, ["SERVING", "NOT_SERVING", "SERVING"]);
  });

  test("a check that hangs counts as failed; stop() ends the watching", { timeout: 10_000 }, async () => {
    // The watcher's timers are unref'd (they must not keep a stopping service alive): hold the loop open here.
    const keepAlive = setInterval(() => undefined, 1_000);
    cleanups.push(() => clearInterval(keepAlive));
    const reports: string[] = [];
    let reported!: () => void;
    const first = new Promise<void>((resolve) => (reported = resolve));
    const watcher = watchReadiness(
      () => new Promise<void>(() => undefined), // a pool waiting forever for a connection
      (status) => (reports.push(status), reported()),
      20,
      20,
    );
    await first;
    watcher.stop();
    assert.deepEqual(reports, ["NOT_SERVING"]);
  });
});
