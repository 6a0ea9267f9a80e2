import "#testing/auth.js";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { serviceNodeArgs, type ServiceName } from "#mesh/catalogue.js";

const REPO = fileURLToPath(new URL("..", import.meta.url));

export interface ServiceProcess {
  name: ServiceName;
  /** host:port of its gRPC server. */
  address: string;
  adminUrl: string;
  child: ChildProcess;
  /** Every line it printed (JSON logs), for assertions and for failure messages. */
  lines: string[];
  /** SIGTERM and wait for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `services/<name>/main.ts` as its own process on free ports and resolves once it logs that it is
 * serving (event-driven: no sleeps). Rejects with its output if it exits first.
 */
export async function startServiceProcess(name: ServiceName, env: Record<string, string> = {}, timeoutMs = 60_000): Promise<ServiceProcess> {
  const child = spawn(process.execPath, serviceNodeArgs(name), {
    cwd: REPO,
    env: { ...process.env, GRPC_HOST: "127.0.0.1", GRPC_PORT: "0", ADMIN_HOST: "127.0.0.1", ADMIN_PORT: "0", LOG_LEVEL: "info", RAG_EXIT_WITH_STDIN: "1", ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
  const serving = new Promise<{ grpc: string; admin: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within ${timeoutMs} ms:\n${lines.slice(-20).join("\n")}`)), timeoutMs);
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on("line", (line) => {
        lines.push(line);
        if (!line.includes('"serving"')) return;
        try {
          const entry = JSON.parse(line) as { message?: string; grpc?: string; admin?: string };
          if (entry.message === "serving" && entry.grpc && entry.admin) {
            clearTimeout(timer);
            resolve({ grpc: entry.grpc, admin: entry.admin });
          }
        } catch {
          /* not a log line */
        }
      });
    }
    void exited.then(([code, signal]) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code ?? signal}) before serving:\n${lines.slice(-20).join("\n")}`));
    });
  });
  const { grpc, admin } = await serving;
  return {
    name,
    address: grpc,
    adminUrl: `http://${admin}`,
    child,
    lines,
    async stop(signal = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const [code] = await exited;
      return code;
    },
  };
}
