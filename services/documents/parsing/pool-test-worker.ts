import { InvalidArgumentError } from "#mesh/errors.js";
import { serveJobs } from "./worker-host.js";

/* A worker for pool.test.ts that misbehaves on request. */

export type TestJob = { op: "echo"; value: string } | { op: "spin" } | { op: "oom" } | { op: "invalid" } | { op: "exit" } | { op: "bytes"; data: Uint8Array };

serveJobs(async (payload) => {
  const job = payload as TestJob;
  switch (job.op) {
    case "echo":
      return { value: job.value, pid: process.pid };
    case "bytes":
      return { length: job.data.byteLength, sum: job.data.reduce((a, b) => a + b, 0) };
    case "spin":
      for (;;); // never yields: only killing the process ends it
    case "oom": {
      const hoard: string[][] = [];
      for (let i = 0; ; i++) hoard.push(Array.from({ length: 100_000 }, (_, j) => `${i}:${j}`));
    }
    case "invalid":
      throw new InvalidArgumentError("content", "bad bytes");
    case "exit":
      process.exit(3);
  }
});
