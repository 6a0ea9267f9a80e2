import { setTimeout as delay } from "node:timers/promises";
import type { Upstreams } from "./upstream.js";

/**
 * /readyz: the gateway is ready when its own extra check passes and every upstream reports SERVING on
 * `grpc.health.v1.Health/Check`. The answer is cached briefly so that probes from many load balancers do
 * not turn into a health-check storm against the services.
 */

const CHECK_TIMEOUT_MS = 1_000;
const CACHE_MS = 2_000;

export interface ReadinessResult {
  ready: boolean;
  /** One line per thing that is not ready, e.g. "rag.v1.QueryService at 127.0.0.1:50053: UNAVAILABLE: ...". */
  problems: string[];
}

export class Readiness {
  private cached: { at: number; result: Promise<ReadinessResult> } | undefined;

  constructor(
    private readonly upstreams: Upstreams,
    /** Service name → target for every routed service (undefined: no upstream configured). */
    private readonly targets: () => Map<string, string | undefined>,
    private readonly extra?: () => Promise<void>,
  ) {}

  check(): Promise<ReadinessResult> {
    const now = Date.now();
    if (!this.cached || now - this.cached.at >= CACHE_MS) this.cached = { at: now, result: this.run() };
    return this.cached.result;
  }

  private async run(): Promise<ReadinessResult> {
    const problems: string[] = [];
    const byTarget = new Map<string, string[]>();
    for (const [service, target] of this.targets()) {
      if (target === undefined) problems.push(`${service}: no upstream configured`);
      else byTarget.set(target, [...(byTarget.get(target) ?? []), service]);
    }
    const checks = [...byTarget].map(async ([target, services]) => {
      const who = `${services.join(", ")} at ${target}`;
      try {
        const health = await this.upstreams.health(target, CHECK_TIMEOUT_MS);
        if (health !== "SERVING") problems.push(`${who}: ${health}`);
      } catch (err) {
        problems.push(`${who}: ${(err as Error).message}`);
      }
    });
    if (this.extra) {
      checks.push(
        withTimeout(this.extra(), CHECK_TIMEOUT_MS).catch((err: unknown) => {
          problems.push(`gateway: ${err instanceof Error ? err.message : String(err)}`);
        }),
      );
    }
    await Promise.all(checks);
    return { ready: problems.length === 0, problems: problems.sort() };
  }
}

/** A readiness check that hangs counts as failed, like an upstream that does not answer in time. */
async function withTimeout(check: Promise<void>, ms: number): Promise<void> {
  const timer = new AbortController();
  const timeout = delay(ms, undefined, { signal: timer.signal }).then(() => {
    throw new Error(`readiness check did not answer within ${ms} ms`);
  });
  try {
    await Promise.race([check, timeout]);
  } finally {
    timer.abort();
    timeout.catch(() => {});
  }
}
