import { setTimeout as delay } from "node:timers/promises";
import { status } from "@grpc/grpc-js";
import { isServiceError } from "#mesh/errors.js";
import { log } from "#mesh/logger.js";
import type { Upstreams } from "./upstream.js";

/**
 * /readyz: the gateway is ready when its own extra check passes and every upstream reports SERVING on
 * `grpc.health.v1.Health/Check`. The answer is cached briefly so that probes from many load balancers do
 * not turn into a health-check storm against the services. What it reports names dependencies by service
 * name and state only ("embeddings: UNAVAILABLE"); addresses and transport errors go to the log.
 */

const CHECK_TIMEOUT_MS = 1_000;
const CACHE_MS = 2_000;

export interface ReadinessResult {
  ready: boolean;
  /** The dependencies that are not ready, by name, e.g. ["embeddings", "gateway"]. */
  degraded: string[];
  /** One line per thing that is not ready, e.g. "query: UNAVAILABLE", "generation: no upstream configured". */
  problems: string[];
}

export class Readiness {
  private cached: { at: number; result: Promise<ReadinessResult> } | undefined;

  constructor(
    private readonly upstreams: Upstreams,
    /** Service name → target for every routed service (undefined: no upstream configured). */
    private readonly targets: () => Map<string, string | undefined>,
    private readonly extra?: () => Promise<void>,
    /** How a service is named in the answer (e.g. "rag.v1.QueryService" → "query"). */
    private readonly nameOf: (service: string) => string = (s) => s,
  ) {}
  private lastLogged = "";

  check(): Promise<ReadinessResult> {
    const now = Date.now();
    if (!this.cached || now - this.cached.at >= CACHE_MS) this.cached = { at: now, result: this.run() };
    return this.cached.result;
  }

  private async run(): Promise<ReadinessResult> {
    const problems = new Map<string, string>();
    /** For the log only: with addresses and the transport's own words. */
    const causes: string[] = [];
    const byTarget = new Map<string, string[]>();
    for (const [service, target] of this.targets()) {
      if (target === undefined) problems.set(this.nameOf(service), "no upstream configured");
      else byTarget.set(target, [...(byTarget.get(target) ?? []), service]);
    }
    const checks = [...byTarget].map(async ([target, services]) => {
      const names = [...new Set(services.map(this.nameOf))];
      try {
        const health = await this.upstreams.health(target, CHECK_TIMEOUT_MS);
        if (health !== "SERVING") for (const name of names) problems.set(name, health);
      } catch (err) {
        const state = isServiceError(err) ? (status[err.code] ?? "UNAVAILABLE") : "UNAVAILABLE";
        for (const name of names) problems.set(name, state);
        causes.push(`${names.join(", ")} at ${target}: ${(err as Error).message}`);
      }
    });
    if (this.extra) {
      checks.push(
        withTimeout(this.extra(), CHECK_TIMEOUT_MS).catch((err: unknown) => {
          problems.set("gateway", err instanceof Error ? err.message : String(err));
        }),
      );
    }
    await Promise.all(checks);
    const degraded = [...problems.keys()].sort();
    const summary = degraded.map((name) => `${name}: ${problems.get(name)}`);
    const logged = summary.join("; ");
    if (logged !== this.lastLogged) {
      // Once per change, not once per probe.
      if (logged) log.warn("not ready", { degraded, causes });
      else if (this.lastLogged) log.info("ready again");
      this.lastLogged = logged;
    }
    return { ready: degraded.length === 0, degraded, problems: summary };
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
