import { performance } from "node:perf_hooks";
import type { StageTimings } from "#gen/rag/v1/query.js";

export type Stage = "cacheMs" | "embedMs" | "retrieveMs" | "generateMs";

/** Milliseconds spent per stage of one ask; a stage that did not run stays 0. */
export class StageClock {
  private readonly started = performance.now();
  private readonly spent: Record<Stage, number> = { cacheMs: 0, embedMs: 0, retrieveMs: 0, generateMs: 0 };

  async time<T>(stage: Stage, work: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await work();
    } finally {
      this.spent[stage] += performance.now() - t0;
    }
  }

  add(stage: Stage, ms: number): void {
    this.spent[stage] += ms;
  }

  timings(): StageTimings {
    return { ...this.spent, totalMs: performance.now() - this.started };
  }
}
