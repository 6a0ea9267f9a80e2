import "#testing/auth.js";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { SERVICE_NAMES, type ServiceName } from "#mesh/catalogue.js";
import { StaticDiscovery } from "#mesh/discovery.js";
import { findFreePort, findFreePortRange } from "#launcher/ports.js";
import { startStack, type LocalStack } from "#launcher/stack.js";
import type { ChildExit } from "#launcher/supervisor.js";

const REPO = fileURLToPath(new URL("..", import.meta.url));

export interface TestStack {
  stack: LocalStack;
  /** Static discovery pointing at this stack, for `connect(..., { discovery })`. */
  discovery: StaticDiscovery;
  /** The last lines every process wrote, for failure messages. */
  recentLog(): string;
  /**
   * Every process that ended on its own while the stack was up, in order. The launcher restarts it, so a
   * crash would otherwise pass unnoticed: a test that must cause none asserts this stays empty.
   */
  unexpectedExits: { name: string; exit: ChildExit }[];
  stop(): Promise<void>;
}

/**
 * The whole local stack (`make run`) on free ports, with its data in a fresh folder under /tmp and its
 * log kept in memory rather than printed. Extra environment goes to every service.
 */
export async function startTestStack(env: Record<string, string> = {}, services: readonly ServiceName[] = SERVICE_NAMES): Promise<TestStack> {
  // Not os.tmpdir(): the postgres OS user must be able to pass through every parent folder.
  const dataDir = await mkdtemp("/tmp/rag-stack-");
  await chmod(dataDir, 0o755);
  const pgPort = await findFreePort();
  const grpcPortBase = await findFreePortRange(SERVICE_NAMES.length, new Set([pgPort]));
  const taken = new Set([pgPort, ...SERVICE_NAMES.map((_, i) => grpcPortBase + i)]);
  const adminPortBase = await findFreePortRange(SERVICE_NAMES.length, taken);
  for (let i = 0; i < SERVICE_NAMES.length; i++) taken.add(adminPortBase + i);
  const gatewayPort = await findFreePortRange(1, taken);
  const lines: string[] = [];
  const unexpectedExits: TestStack["unexpectedExits"] = [];
  let stack: LocalStack;
  try {
    stack = await startStack({
      rootDir: REPO,
      dataDir,
      pgPort,
      grpcPortBase,
      adminPortBase,
      services,
      gatewayPort: services.includes("identity") ? gatewayPort : false,
      databaseUrl: process.env.DATABASE_URL || undefined,
      env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? "warn", ...env },
      onUnexpectedExit: (name, exit) => unexpectedExits.push({ name, exit }),
      log: {
        line: (source, text) => {
          lines.push(`${source} | ${text}`);
          if (lines.length > 400) lines.splice(0, lines.length - 300);
        },
      },
    });
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n--- stack log ---\n${lines.slice(-60).join("\n")}`);
  }
  const endpoints = Object.fromEntries(stack.endpoints.map((e) => [e.name, e.grpcAddress]));
  return {
    stack,
    discovery: new StaticDiscovery(endpoints),
    recentLog: () => lines.slice(-80).join("\n"),
    unexpectedExits,
    async stop() {
      try {
        await stack.stop();
      } finally {
        await rm(dataDir, { recursive: true, force: true });
      }
    },
  };
}
