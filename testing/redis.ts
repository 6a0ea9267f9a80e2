/*
 * Test support: a Redis for tests that need one. REDIS_URL when set (CI with a server); otherwise a
 * throwaway `redis-server` on a free loopback port when one is installed; otherwise undefined, and the
 * test skips saying why. Beside the Postgres helper (testing/postgres.ts), for the same reason.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { onPath } from "#launcher/replica-stores.js";
import { createInterface } from "node:readline";

export interface TestRedis {
  url: string;
  stop(): Promise<void>;
}

export async function startTestRedis(timeoutMs = 10_000): Promise<TestRedis | undefined> {
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, stop: async () => undefined };
  const binary = onPath("redis-server");
  if (!binary) return undefined;
  const port = await freePort();
  const child = spawn(binary, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmpdir()], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = once(child, "exit");
  const lines: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start within ${timeoutMs} ms:\n${lines.join("\n")}`)), timeoutMs);
    createInterface({ input: child.stdout! }).on("line", (line) => {
      lines.push(line);
      if (line.includes("Ready to accept connections")) (clearTimeout(timer), resolve());
    });
    void exited.then(() => (clearTimeout(timer), reject(new Error(`redis-server exited before it was ready:\n${lines.join("\n")}`))));
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      await exited;
    },
  };
}


function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
