import { mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

export interface LatencyFigures {
  n: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  throughput_per_s: number;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** Runs `call` `total` times with `concurrency` in flight; latencies per call, throughput overall. */
export async function measure(call: () => Promise<unknown>, total: number, concurrency: number): Promise<LatencyFigures> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        next++;
        const t0 = performance.now();
        await call();
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return { n: total, p50_ms: round(percentile(latencies, 50)), p95_ms: round(percentile(latencies, 95)), p99_ms: round(percentile(latencies, 99)), throughput_per_s: Math.round(total / elapsed) };
}

/** Merges this benchmark's figures into bench/results/<date>.json, so one day's runs sit in one file. */
export function record(section: string, figures: unknown): string {
  const dir = fileURLToPath(new URL("./results/", import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = `${dir}${new Date().toISOString().slice(0, 10)}.json`;
  const all = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>) : {};
  all[section] = { measured_at: new Date().toISOString(), node: process.version, ...(figures as object) };
  writeFileSync(file, `${JSON.stringify(all, null, 2)}\n`);
  return file;
}
