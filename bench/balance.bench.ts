/**
 * One slow replica: round_robin against least_request. Two echo replicas on loopback, one answering
 * SLOW_MS later than the other (a replica on a busy node, a long GC); N unary calls at concurrency 8
 * through a grpc-js channel over both (`ipv4:a,b`), once per policy, via the service config the mesh
 * builds (mesh/resilience/service-config.ts, outlier ejection off: the slow replica never fails).
 * Run: node --import tsx bench/balance.bench.ts   (BENCH_CALLS=2000 SLOW_MS=50 by default)
 */
import { buildServiceConfig } from "#mesh/resilience/service-config.js";
import { DEFAULT_RESILIENCE, type ResilienceSettings } from "#mesh/resilience/settings.js";
import { echoClient, startReplica } from "#mesh/resilience/test-echo.js";
import { measure, record, type LatencyFigures } from "./stats.js";

const TOTAL = Number(process.env.BENCH_CALLS ?? 2000);
const SLOW_MS = Number(process.env.SLOW_MS ?? 50);
const CONCURRENCY = 8;

const fast = await startReplica();
const slow = await startReplica({ delayMs: SLOW_MS });
const target = `ipv4:${fast.address},${slow.address}`;

const results: Record<string, LatencyFigures & { slow_share: number }> = {};
for (const policy of ["round_robin", "least_request"] as const) {
  const settings: ResilienceSettings = { ...DEFAULT_RESILIENCE, lbPolicy: policy, outlier: { ...DEFAULT_RESILIENCE.outlier, failures: 0 } };
  const client = echoClient(target, buildServiceConfig([], settings));
  await measure(() => client.echo(), 200, CONCURRENCY); // warm-up: both connections up, JIT
  fast.served = slow.served = 0;
  const figures = await measure(() => client.echo(), TOTAL, CONCURRENCY);
  results[policy] = { ...figures, slow_share: Math.round((slow.served / TOTAL) * 1000) / 1000 };
  client.close();
}

const rr = results.round_robin!;
const lr = results.least_request!;
console.log(`balance: ${TOTAL} unary calls at concurrency ${CONCURRENCY}, two loopback replicas, one +${SLOW_MS} ms (${process.version}, ${(await import("node:os")).cpus().length} cores)`);
console.log("policy         p50 ms   p99 ms  calls/s  share on slow replica");
for (const [name, f] of Object.entries(results)) {
  console.log([name.padEnd(13), f.p50_ms.toFixed(2).padStart(8), f.p99_ms.toFixed(2).padStart(8), String(f.throughput_per_s).padStart(8), `${(f.slow_share * 100).toFixed(1)} %`.padStart(23)].join(" "));
}
console.log(`least_request / round_robin: p50 ${(lr.p50_ms / rr.p50_ms).toFixed(2)}, p99 ${(lr.p99_ms / rr.p99_ms).toFixed(2)}, throughput ${(lr.throughput_per_s / rr.throughput_per_s).toFixed(2)}`);
console.log(`written to ${record("balance", { calls: TOTAL, concurrency: CONCURRENCY, slow_ms: SLOW_MS, ...results })}`);
await fast.stop();
await slow.stop();
