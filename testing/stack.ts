import "#testing/auth.js";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { SERVICE_NAMES, type ServiceName } from "#mesh/catalogue.js";
import { StaticDiscovery } from "#mesh/discovery.js";
import { portBlockSize, type Endpoint, type ReplicaCounts } from "#launcher/endpoints.js";
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
  /** Every process of `name` (one, or one per replica), for chaos tests: where it listens, its pid now. */
  processes(name: ServiceName): StackProcess[];
  stop(): Promise<void>;
}

/** One service process of the stack. The launcher restarts it on the same ports, with a new pid. */
export interface StackProcess {
  /** "query" when it runs once, "query#1", "query#2"… with replicas: its log prefix and status row. */
  id: string;
  replica: number;
  grpcAddress: string;
  /** http://127.0.0.1:<admin port>/metrics */
  adminUrl: string;
  /** The pid of the process running now (it changes when the launcher restarts it). */
  pid(): number | undefined;
  /** Sends a signal to the process running now (SIGKILL, SIGSTOP, SIGCONT, SIGTERM). */
  signal(signal: NodeJS.Signals): void;
}

export interface TestStackOptions {
  /** Processes per service, as RAG_REPLICAS; query replicas get a redis-server (on PATH) unless REDIS_URL is set. */
  replicas?: ReplicaCounts;
}

/**
 * The whole local stack (`make run`) on free ports, with its data in a fresh folder under /tmp and its
 * log kept in memory rather than printed. Extra environment goes to every service.
 */
export async function startTestStack(
  env: Record<string, string> = {},
  services: readonly ServiceName[] = SERVICE_NAMES,
  options: TestStackOptions = {},
): Promise<TestStack> {
  const replicas = options.replicas ?? {};
  const block = portBlockSize(replicas);
  // Not os.tmpdir(): the postgres OS user must be able to pass through every parent folder.
  const dataDir = await mkdtemp("/tmp/rag-stack-");
  await chmod(dataDir, 0o755);
  const pgPort = await findFreePort();
  const grpcPortBase = await findFreePortRange(block, new Set([pgPort]));
  const taken = new Set([pgPort]);
  for (let i = 0; i < block; i++) taken.add(grpcPortBase + i);
  const adminPortBase = await findFreePortRange(block, taken);
  for (let i = 0; i < block; i++) taken.add(adminPortBase + i);
  const gatewayPort = await findFreePortRange(1, taken);
  taken.add(gatewayPort);
  const redisPort = await findFreePortRange(1, taken);
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
      replicas,
      redisPort,
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
  // A replicated service is one "a|b" entry: static discovery turns it into a balanced address list.
  const endpoints: Record<string, string> = {};
  for (const e of stack.endpoints) endpoints[e.name] = endpoints[e.name] ? `${endpoints[e.name]}|${e.grpcAddress}` : e.grpcAddress;
  const processOf = (e: Endpoint): StackProcess => ({
    id: e.id,
    replica: e.replica,
    grpcAddress: e.grpcAddress,
    adminUrl: e.adminUrl,
    pid: () => stack.pids[e.id],
    signal(signal) {
      const pid = stack.pids[e.id];
      if (pid === undefined) throw new Error(`${e.id} has no pid`);
      process.kill(pid, signal);
    },
  });
  return {
    stack,
    discovery: new StaticDiscovery(endpoints),
    processes: (name) => stack.endpoints.filter((e) => e.name === name).map(processOf),
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
