import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { InvalidArgumentError, RpcError } from "#mesh/errors.js";
import { log } from "#mesh/logger.js";
import { WorkerLimitError, WorkerPool, type PoolOptions } from "./pool.js";
import type { TestJob } from "./pool-test-worker.js";

type Echo = { value: string; pid: number };

function pool(over: Partial<PoolOptions> = {}): WorkerPool<TestJob, unknown> {
  return new WorkerPool<TestJob, unknown>({
    module: new URL("./pool-test-worker.ts", import.meta.url),
    name: "test",
    size: 1,
    queue: 4,
    timeoutMs: 60_000,
    maxMemoryMb: 64,
    settings: { queue: "TEST_QUEUE" },
    ...over,
  });
}

const echo = async (p: WorkerPool<TestJob, unknown>, value: string) => (await p.run({ op: "echo", value })) as Echo;

describe("worker pool", () => {
  log.silent = true; // replacing workers is logged as a warning, on purpose here

  test("runs jobs in a TypeScript worker process; a Buffer's own bytes cross, not its pool", async () => {
    const p = pool();
    try {
      const answer = await echo(p, "hello");
      assert.equal(answer.value, "hello");
      assert.notEqual(answer.pid, process.pid, "not this process");
      const slab = Buffer.from([9, 9, 1, 2, 3, 9]);
      assert.deepEqual(await p.run({ op: "bytes", data: slab.subarray(2, 5) }), { length: 3, sum: 6 });
    } finally {
      await p.close();
    }
  });

  test("a job past its time limit fails alone; its worker is killed and replaced", async () => {
    const p = pool({ timeoutMs: 1_000 });
    try {
      const before = await echo(p, "a");
      await assert.rejects(p.run({ op: "spin" }), (err: unknown) => err instanceof WorkerLimitError && err.limit === "time" && /took longer than 1000 ms/.test(err.message));
      const after = await echo(p, "b");
      assert.equal(after.value, "b", "the next job works");
      assert.notEqual(after.pid, before.pid, "on a new worker");
      assert.equal(p.workers, 1);
    } finally {
      await p.close();
    }
  });

  test("a worker that runs out of memory dies alone, the job says so, and the next job works", async () => {
    const p = pool();
    try {
      await assert.rejects(p.run({ op: "oom" }), (err: unknown) => err instanceof WorkerLimitError && err.limit === "memory" && /more than 64 MB/.test(err.message));
      assert.equal((await echo(p, "still here")).value, "still here");
    } finally {
      await p.close();
    }
  });

  test("typed errors cross the thread boundary; a worker that exits is replaced", async () => {
    const p = pool();
    try {
      await assert.rejects(p.run({ op: "invalid" }), (err: unknown) => err instanceof InvalidArgumentError && err.field === "content" && err.message === "content: bad bytes");
      await assert.rejects(p.run({ op: "exit" }), (err: unknown) => err instanceof Error && !(err instanceof RpcError) && /exit 3/.test(err.message));
      assert.equal((await echo(p, "next")).value, "next");
    } finally {
      await p.close();
    }
  });

  test("the queue is bounded: one job too many is RESOURCE_EXHAUSTED at once, naming the setting", async () => {
    const p = pool({ size: 1, queue: 1 });
    const running = p.run({ op: "spin" });
    const waiting = p.run({ op: "echo", value: "queued" });
    await assert.rejects(p.run({ op: "echo", value: "refused" }), (err: unknown) => err instanceof RpcError && err.code === status.RESOURCE_EXHAUSTED && /TEST_QUEUE=1/.test(err.message));
    const closing = p.close();
    // Shutting down fails what is running and waiting with UNAVAILABLE, and refuses new work.
    for (const job of [running, waiting, p.run({ op: "echo", value: "late" })]) {
      await assert.rejects(job, (err: unknown) => err instanceof RpcError && err.code === status.UNAVAILABLE);
    }
    await closing;
  });

  test("a caller that gives up leaves the queue; one whose job runs is answered at once", async () => {
    const p = pool({ size: 1, queue: 2 });
    try {
      await echo(p, "warm"); // a ready worker: the spin below starts at once instead of waiting
      const spinning = new AbortController();
      const running = p.run({ op: "spin" }, spinning.signal);
      const queued = new AbortController();
      const waiting = p.run({ op: "echo", value: "never" }, queued.signal);
      queued.abort(new Error("caller went away"));
      await assert.rejects(waiting, /caller went away/);
      spinning.abort(new Error("cancelled"));
      await assert.rejects(running, /cancelled/);
      // The spinning worker is still busy (its job cannot be interrupted) and counts against the bound.
      const next = p.run({ op: "echo", value: "one" });
      const another = p.run({ op: "echo", value: "two" });
      await assert.rejects(p.run({ op: "echo", value: "three" }), (err: unknown) => err instanceof RpcError && err.code === status.RESOURCE_EXHAUSTED);
      const closing = p.close();
      await assert.rejects(next);
      await assert.rejects(another);
      await closing;
    } finally {
      await p.close();
    }
  });
});
