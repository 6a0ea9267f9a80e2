/**
 * `make run`: the whole stack in one command, in the foreground.
 *
 *   node --import tsx launcher/main.ts
 *
 * Ctrl-C (or SIGTERM) stops the services, then Postgres, and exits 0; a second Ctrl-C forces (exit 130).
 * A service, the gateway or Postgres that ends on its own while the stack is up is restarted with backoff
 * (supervisor.ts, restart-policy.ts); the reason is logged and the table is printed again once it is back.
 * Settings come from the environment: see config.ts.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError, loadConfig, type LauncherConfig } from "./config.js";
import { createPrefixedLog, wantsColour } from "./log-prefix.js";
import { LocalStack, logSources, StartupError } from "./stack.js";
import { renderTable } from "./table.js";

const rootDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Greppable marker printed once everything is SERVING; tests and scripts wait for it. */
const READY_MARKER = "stack ready";
const DUPLICATE_SIGNAL_MS = 500;

async function main(): Promise<void> {
  // A closed stdout (`make run | head`) must not crash us and orphan the stack mid-flight.
  process.stdout.on("error", () => undefined);

  let config: LauncherConfig;
  try {
    config = loadConfig(process.env, rootDir);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`launcher: bad configuration: ${err.message}\n`);
    process.exit(2);
  }

  const startedAt = performance.now();
  const log = createPrefixedLog({ sources: logSources(config.services, config.replicas), colour: wantsColour() });
  const say = (text: string) => log.line("launcher", text);
  let ready = false;
  // Once the first table is out, it is printed again whenever things settle after a change (a crashed
  // process is back, or given up on), so the last table on screen tells what runs and how often it was
  // restarted. Not while a restart is under way (one table per recovery), not while stopping.
  const settled = () => stack.status().every((s) => s.state === "running" || s.state === "given-up");
  const stack: LocalStack = new LocalStack({ ...config, log, onStatusChange: () => ready && settled() && printTable(stack) });

  let signals = 0;
  let firstSignalAt = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    // One Ctrl-C can arrive twice: from the terminal (to the whole process group) and again from a
    // wrapper that forwards it (npm, timeout). Only a repeat after a human-sized pause forces.
    if (signals > 0 && performance.now() - firstSignalAt < DUPLICATE_SIGNAL_MS) return;
    if (signals === 0) firstSignalAt = performance.now();
    signals += 1;
    if (signals === 1) {
      ready = false;
      say(`${signal}: stopping the stack, services first (press Ctrl-C again to force)`);
      void stack.stop().then(
        () => {
          say("stopped");
          process.exit(0);
        },
        (err: unknown) => {
          say(`error while stopping: ${(err as Error).stack ?? String(err)}`);
          process.exit(1);
        },
      );
    } else {
      say(`${signal} again: forcing (SIGKILL to services, immediate shutdown for Postgres)`);
      void stack.kill().finally(() => process.exit(130));
    }
  };
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, onSignal);

  try {
    await stack.start();
  } catch (err) {
    if (signals > 0) return; // interrupted on purpose: the signal handler finishes the job
    const message = err instanceof StartupError ? err.message : ((err as Error).stack ?? String(err));
    process.stderr.write(`launcher: start-up failed: ${message}\n`);
    process.exit(1);
  }

  ready = true;
  printTable(stack);
  if (stack.postgres) {
    const dbs = stack.endpoints.filter((e) => e.replica === 1 && stack.databaseUrls[e.name]).map((e) => new URL(stack.databaseUrls[e.name]!).pathname.slice(1));
    say(`postgres ${shownUrl(stack.postgres.url, Boolean(config.databaseUrl))} databases: ${dbs.join(", ")}`);
  }
  const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
  const services = new Set(stack.endpoints.map((e) => e.name)).size;
  const replicas = stack.endpoints.length > services ? ` (${stack.endpoints.length} processes)` : "";
  say(`${READY_MARKER}: ${services} services${replicas} SERVING in ${seconds}s (Ctrl-C to stop)`);
}

const STATE_WORDS = { starting: "STARTING", running: "SERVING", backoff: "RESTARTING", "given-up": "DOWN", stopped: "STOPPED" } as const;

function printTable(stack: LocalStack): void {
  const status = new Map(stack.status().map((s) => [s.name, s]));
  const cells = (name: string, upWord: string) => {
    const s = status.get(name);
    const state = s ? (s.state === "running" ? upWord : STATE_WORDS[s.state]) : "?";
    return [state, String(s?.restarts ?? 0), String(s?.pid ?? "")];
  };
  // One row per process: a replicated service shows as query#1, query#2… each with its own ports and pid.
  const rows = stack.endpoints.map((e) => [e.id, e.grpcAddress, e.adminUrl, ...cells(e.id, "SERVING")]);
  if (stack.gatewayUrl) rows.push(["gateway (REST)", stack.gatewayUrl, `${stack.gatewayUrl}/docs`, ...cells("gateway", "UP")]);
  if (status.has("redis") && stack.redisUrl) rows.push(["redis", new URL(stack.redisUrl).host, "", ...cells("redis", "UP")]);
  if (status.has("postgres") && stack.postgres) rows.push(["postgres", `${new URL(stack.postgres.url).host}`, "", ...cells("postgres", "UP")]);
  process.stdout.write(`\n${renderTable(["service", "gRPC address", "admin", "status", "restarts", "pid"], rows)}\n\n`);
}

// The embedded server's password is a fixed local default, useful for psql; an external one is a secret.
function shownUrl(url: string, external: boolean): string {
  const u = new URL(url);
  u.pathname = "/";
  if (external && u.password) u.password = "***";
  return u.toString();
}

await main();
