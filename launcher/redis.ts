/**
 * A throwaway Redis for query replicas when no REDIS_URL is given: it holds submitted asks and cached
 * answers, which are worth nothing after the stack stops, so nothing is saved to disk.
 */
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { LOOPBACK } from "./ports.js";
import type { ChildSpec } from "./supervisor.js";

export const DEFAULT_REDIS_PORT = 6390;

export function redisSpec(binary: string, port: number, cwd: string): ChildSpec {
  return {
    name: "redis",
    command: binary,
    args: ["--port", String(port), "--bind", LOOPBACK, "--save", "", "--appendonly", "no", "--dir", cwd],
    cwd,
    env: {},
  };
}

/** Resolves once redis on `port` answers PING; rejects once `signal` aborts. */
export async function waitUntilRedisAnswers(port: number, signal: AbortSignal): Promise<void> {
  for (;;) {
    if (signal.aborted) throw signal.reason;
    if (await ping(port)) return;
    await sleep(100, undefined, { signal });
  }
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: LOOPBACK });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once("error", () => done(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.once("data", (data) => done(data.toString().startsWith("+PONG")));
  });
}
