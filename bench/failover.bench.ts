/**
 * Failover (issue 9, part 6): what a replica's death or hang costs the asks that run through it. The local
 * stack with two replicas of query, retrieval, embeddings and generation (real processes on loopback, as
 * tests/chaos.test.ts starts it), a few SQuAD passages ingested, then three phases of N asks at concurrency 8,
 * every other one over REST through the gateway and the rest over gRPC, answer cache bypassed:
 *
 *   baseline   no fault
 *   sigkill    one replica of query and one of retrieval SIGKILLed a quarter of the way through
 *   sigstop    one replica of query and one of generation SIGSTOPped a quarter through, SIGCONT 5 s later
 *
 * Between phases it waits until the faulted replicas serve calls again (the launcher restarts a killed one).
 * Per phase: asks, failed asks, p50/p95/p99/max latency of the answered asks, throughput, p99 / baseline p99.
 * Run: node --import tsx bench/failover.bench.ts   (FAILOVER_ASKS=400 by default)
 */
process.env.LOG_LEVEL ??= "error";
import { execFileSync } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { IngestionServiceClient, JobState } from "#gen/rag/v1/ingestion.js";
import { AskRequest, QueryServiceClient } from "#gen/rag/v1/query.js";
import { SERVICE_NAMES } from "#mesh/catalogue.js";
import { log } from "#mesh/logger.js";
import { ingestFiles } from "../cli/ingest-jobs.js";
import { containsAnswer, loadDataset, passageFiles, spreadSample, SQUAD_DIR, type Question } from "#testing/eval.js";
import { testRuntime } from "#testing/runtime.js";
import { STACK_ADMIN_KEY, handledCalls, isRunning, restAsk } from "#testing/stack-probes.js";
import { startTestStack, type StackProcess } from "#testing/stack.js";
import { percentile, record } from "./stats.js";

log.level = "error";
const ASKS = Number(process.env.FAILOVER_ASKS ?? 400);
const CONCURRENCY = 8;
const PASSAGES = 24;
const STOP_MS = 5_000;
/** Each ask's own deadline, gRPC and REST alike (the chaos test's). */
const ASK_DEADLINE_MS = 20_000;
const RECOVERY_TIMEOUT_MS = 90_000;
const HIGH = { burst: 100_000, perMinute: 6_000_000, perHour: 100_000_000 };
const TENANT = "default"; // the bootstrap tenant: the gateway's admin key asks in it too
const REPLICAS = { query: 2, retrieval: 2, embeddings: 2, generation: 2 };

// A few real passages, and the questions whose gold passage is among them.
const { corpus, questions } = loadDataset(SQUAD_DIR);
const passages = spreadSample(corpus, PASSAGES);
const chosen = new Set(passages.map((p) => p.id));
const pool: Question[] = questions.filter((q) => q.gold_ids.length > 0 && q.gold_ids.every((id) => chosen.has(id)));
if (pool.length === 0) throw new Error("no question has its gold passage among the sampled passages");

interface Phase {
  asks: number;
  failed: number;
  failed_grpc: number;
  failed_rest: number;
  answered: number;
  answer_contains_gold: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  max_ms: number;
  slowest_failure_ms: number | null;
  throughput_per_s: number;
  wall_ms: number;
  p99_vs_baseline: number;
  fault?: string;
  fault_at_ask?: number;
  asks_over_2s: number;
  recovery?: Recovery;
  first_failures: string[];
}

const tree = gitState(); // before the services load their code
const stackStarted = performance.now();
const env = await startTestStack(
  {
    IDENTITY_BOOTSTRAP_ADMIN_KEY: STACK_ADMIN_KEY,
    GATEWAY_RATE_LIMITS: JSON.stringify({ roles: { READER: HIGH, EDITOR: HIGH, ADMIN: HIGH }, tenant: HIGH }),
  },
  SERVICE_NAMES,
  { replicas: REPLICAS },
);
const stackStartMs = Math.round(performance.now() - stackStarted);
const runtime = testRuntime({ discovery: env.discovery });
const query = runtime.connect(QueryServiceClient, "query", { metadata: { "x-tenant-id": TENANT }, deadlineMs: ASK_DEADLINE_MS });
const stopped = new Set<StackProcess>();
/** Set once a faulted phase's asks are done: recovery watching then asks a few questions itself. */
let phaseOver = false;
try {
  const ingestion = runtime.connect(IngestionServiceClient, "ingestion", { metadata: { "x-tenant-id": TENANT }, deadlineMs: 300_000 });
  try {
    const jobs = await ingestFiles(ingestion, passageFiles(passages), { displayName: "failover bench" }, () => undefined);
    const bad = jobs.filter((j) => j.state !== JobState.JOB_STATE_SUCCEEDED);
    if (bad.length) throw new Error(`ingestion failed: ${bad.map((j) => `${j.error} ${JSON.stringify(j.itemErrors)}`).join("; ")}\n${env.recentLog()}`);
  } finally {
    ingestion.close();
  }
  console.log(`failover: ${PASSAGES} SQuAD passages ingested, ${pool.length} questions; ${ASKS} asks per phase at concurrency ${CONCURRENCY}, half gRPC half REST, cache bypassed; stack up in ${stackStartMs} ms (${process.version}, ${(await import("node:os")).cpus().length} cores)`);

  await runPhase(async () => undefined, 40); // warm-up: every connection up, JIT

  const phases: Record<string, Phase> = {};
  const show = (name: string, p: Phase) => {
    phases[name] = p;
    console.log(
      [name.padEnd(9), String(p.asks).padStart(5), String(p.failed).padStart(7), p.p50_ms.toFixed(0).padStart(7), p.p95_ms.toFixed(0).padStart(7), p.p99_ms.toFixed(0).padStart(7), p.max_ms.toFixed(0).padStart(7), p.throughput_per_s.toFixed(1).padStart(7), p.p99_vs_baseline.toFixed(2).padStart(9), String(p.asks_over_2s).padStart(7), p.recovery ? Object.keys(p.recovery.serving_ms).map((id) => `${id} ${ms(p.recovery!.up_ms[id])}/${ms(p.recovery!.serving_ms[id])}`).join(", ") : ""].join(" "),
    );
  };
  const ms = (x: number | null | undefined) => (x == null ? "never" : String(x));
  const header = () => console.log("phase      asks  failed  p50 ms  p95 ms  p99 ms  max ms  asks/s  p99/base    >2 s  replica running/serving again, ms after SIGKILL / SIGCONT");

  // 1. Baseline.
  const base = await runPhase(async () => undefined);
  const baselineP99 = percentile([...base.okMs].sort((a, b) => a - b), 99);
  header();
  show("baseline", finish(base, baselineP99));

  // 2. SIGKILL one replica of query and one of retrieval a quarter through; wait for the launcher's restarts.
  const killed = [env.processes("query")[1]!, env.processes("retrieval")[1]!];
  const oldPids = killed.map((v) => v.pid());
  let killBack: Promise<Recovery> | undefined;
  const kill = await runPhase(async () => {
    for (const v of killed) v.signal("SIGKILL");
    // From the kill: each replica restarted (new pid) and serving calls again (its counters start from zero).
    killBack = watchRecovery(killed, (v, i) => v.pid() !== undefined && v.pid() !== oldPids[i] && isRunning(env, v.id), killed.map(() => 0));
  });
  phaseOver = true;
  show("sigkill", { ...finish(kill, baselineP99), fault_at_ask: kill.faultAt, fault: `SIGKILL ${killed.map((v) => v.id).join(", ")}`, recovery: await killBack! });
  phaseOver = false;

  // 3. SIGSTOP one replica of query and one of generation a quarter through, SIGCONT 5 s later.
  const hung = [env.processes("query")[1]!, env.processes("generation")[1]!];
  const counts = await Promise.all(hung.map((v) => handledCalls(v).catch(() => 0)));
  let stopBack: Promise<Recovery> | undefined;
  const stop = await runPhase(async () => {
    for (const v of hung) {
      v.signal("SIGSTOP");
      stopped.add(v);
    }
    await sleep(STOP_MS);
    resume();
    // From SIGCONT: each replica's count of completed calls above what it was before the phase.
    stopBack = watchRecovery(hung, () => true, counts);
  });
  resume();
  phaseOver = true;
  show("sigstop", { ...finish(stop, baselineP99), fault_at_ask: stop.faultAt, fault: `SIGSTOP ${hung.map((v) => v.id).join(", ")}, SIGCONT after ${STOP_MS} ms`, recovery: await stopBack! });

  console.log("(latencies over answered asks; throughput over all asks of the phase; >2 s = answered asks slower than 2 s)");
  for (const [name, p] of Object.entries(phases)) {
    if (p.first_failures.length) console.log(`${name}: first failures:\n  ${p.first_failures.join("\n  ")}`);
  }
  const exits = env.unexpectedExits.map((e) => `${e.name} ${e.exit.signal ?? `code ${e.exit.code}`}`);
  console.log(`processes that ended on their own: ${exits.length ? exits.join(", ") : "none"}`);
  console.log(
    `written to ${record("failover", { asks_per_phase: ASKS, concurrency: CONCURRENCY, replicas: REPLICAS, passages: PASSAGES, questions: pool.length, ask_deadline_ms: ASK_DEADLINE_MS, sigstop_ms: STOP_MS, stack_start_ms: stackStartMs, unexpected_exits: exits, ...tree, ...phases })}`,
  );
} finally {
  resume();
  query.close();
  await env.stop();
}

function resume(): void {
  for (const v of stopped) {
    try {
      v.signal("SIGCONT");
    } catch {
      // gone already
    }
  }
  stopped.clear();
}

interface Raw {
  okMs: number[];
  failMs: number[];
  failures: string[];
  failedGrpc: number;
  failedRest: number;
  gold: number;
  wallMs: number;
  faultAt?: number;
  total: number;
}

/** `total` asks at CONCURRENCY, even ones over gRPC and odd ones over REST, `fault` started once a quarter have been sent. */
async function runPhase(fault: () => Promise<void>, total = ASKS): Promise<Raw> {
  const raw: Raw = { okMs: [], failMs: [], failures: [], failedGrpc: 0, failedRest: 0, gold: 0, wallMs: 0, total };
  let next = 0;
  let faulted: Promise<void> | undefined;
  const started = performance.now();
  const worker = async () => {
    for (let i = next++; i < total; i = next++) {
      if (i === Math.floor(total / 4)) {
        raw.faultAt = i;
        faulted = fault();
      }
      const q = pool[i % pool.length]!;
      const grpc = i % 2 === 0;
      const t0 = performance.now();
      try {
        const answer = grpc ? await grpcAsk(q.question) : await restAsk(env.stack.gatewayUrl!, q.question, { timeoutMs: ASK_DEADLINE_MS + 5_000 });
        raw.okMs.push(performance.now() - t0);
        if (containsAnswer(answer, q.answers)) raw.gold++;
      } catch (err) {
        const ms = performance.now() - t0;
        raw.failMs.push(ms);
        if (grpc) raw.failedGrpc++;
        else raw.failedRest++;
        raw.failures.push(`#${i} ${grpc ? "gRPC" : "REST"} after ${ms.toFixed(0)} ms: ${(err as Error).message.slice(0, 300)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  raw.wallMs = performance.now() - started;
  await faulted;
  return raw;
}

function finish(raw: Raw, baselineP99: number): Phase {
  const sorted = [...raw.okMs].sort((a, b) => a - b);
  const r1 = (x: number) => Math.round(x * 10) / 10;
  const p99 = r1(percentile(sorted, 99));
  return {
    asks: raw.total,
    failed: raw.failMs.length,
    failed_grpc: raw.failedGrpc,
    failed_rest: raw.failedRest,
    answered: raw.okMs.length,
    answer_contains_gold: Math.round((raw.gold / Math.max(1, raw.okMs.length)) * 1000) / 1000,
    p50_ms: r1(percentile(sorted, 50)),
    p95_ms: r1(percentile(sorted, 95)),
    p99_ms: p99,
    max_ms: r1(sorted.at(-1) ?? NaN),
    asks_over_2s: sorted.filter((ms) => ms > 2_000).length,
    slowest_failure_ms: raw.failMs.length ? r1(Math.max(...raw.failMs)) : null,
    throughput_per_s: r1(raw.total / (raw.wallMs / 1000)),
    wall_ms: Math.round(raw.wallMs),
    p99_vs_baseline: Math.round((p99 / baselineP99) * 100) / 100,
    first_failures: raw.failures.slice(0, 5),
  };
}

async function grpcAsk(question: string): Promise<string> {
  return (await query.ask(AskRequest.fromPartial({ question, options: { bypassCache: true } }), { deadlineMs: ASK_DEADLINE_MS })).answer;
}




/**
 * Per process, milliseconds from now until it is up (`up`) and has completed more calls than `before`, looked
 * at every 250 ms while the phase's asks run, and with a round of asks of its own between looks once the phase
 * is over; null for one not back within RECOVERY_TIMEOUT_MS.
 */
async function watchRecovery(procs: StackProcess[], up: (p: StackProcess, i: number) => boolean, before: number[]): Promise<Recovery> {
  const started = Date.now();
  const back: Record<string, number | null> = Object.fromEntries(procs.map((p) => [p.id, null]));
  const upAt: Record<string, number | null> = Object.fromEntries(procs.map((p) => [p.id, null]));
  while (Date.now() - started < RECOVERY_TIMEOUT_MS && Object.values(back).some((ms) => ms === null)) {
    if (phaseOver) await Promise.all(pool.slice(0, CONCURRENCY).map((q) => grpcAsk(q.question).catch(() => undefined)));
    await Promise.all(
      procs.map(async (p, i) => {
        if (back[p.id] !== null || !up(p, i)) return;
        upAt[p.id] ??= Date.now() - started;
        if ((await handledCalls(p).catch(() => 0)) > before[i]!) back[p.id] = Date.now() - started;
      }),
    );
    await sleep(250);
  }
  const missing = Object.entries(back).filter(([, ms]) => ms === null);
  if (missing.length) console.log(`${missing.map(([id]) => id).join(", ")} not serving again after ${RECOVERY_TIMEOUT_MS} ms\n--- stack log ---\n${env.recentLog()}`);
  return { up_ms: upAt, serving_ms: back };
}

/** Per faulted replica, ms from SIGKILL (or SIGCONT): until the launcher had it running again, and until it completed a call again; null: not within RECOVERY_TIMEOUT_MS. */
interface Recovery {
  up_ms: Record<string, number | null>;
  serving_ms: Record<string, number | null>;
}

/** Which code was measured: HEAD, and the tracked files that differed from it (others work in the tree). */
function gitState(): { git_head: string; uncommitted: string[] } {
  const git = (...args: string[]) => execFileSync("git", args, { encoding: "utf8", cwd: new URL("..", import.meta.url) }).trimEnd();
  try {
    return { git_head: git("rev-parse", "HEAD"), uncommitted: git("status", "--porcelain", "--untracked-files=no").split("\n").filter(Boolean).map((l) => l.slice(3)) };
  } catch {
    return { git_head: "unknown", uncommitted: [] };
  }
}
