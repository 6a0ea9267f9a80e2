/**
 * When to bring a crashed process back, and when to stop trying. Pure arithmetic on what the caller tells
 * it (how long the run lasted, how it ended), so the numbers are unit-tested without a clock.
 *
 * Exponential backoff (0.5 s, 1 s, 2 s, ... up to 30 s) keeps a process that crashes at once from
 * spinning the machine; a run that lasted `stableAfterMs` proves the process can live, so the next crash
 * starts again from the first delay. `maxRapidCrashes` crashes in a row, each before it was stable, is a
 * crash loop that restarting will not fix: we stop and say so rather than retry forever in the log.
 */

export interface RestartPolicyOptions {
  /** Delay before the first restart after a stable run. */
  initialDelayMs: number;
  /** Upper bound on the delay. */
  maxDelayMs: number;
  multiplier: number;
  /** A run at least this long counts as healthy: the backoff and the crash-loop count start over. */
  stableAfterMs: number;
  /** Consecutive short runs after which we give up. */
  maxRapidCrashes: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicyOptions = {
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  multiplier: 2,
  stableAfterMs: 60_000,
  maxRapidCrashes: 10,
};

/** The exit code mesh/service.ts uses for a bad configuration (sysexits EX_CONFIG). */
export const EX_CONFIG = 78;

export type RestartDecision =
  | {
      action: "restart";
      delayMs: number;
      /** Crashes in a row without a stable run in between, this one included. */
      rapidCrashes: number;
    }
  | { action: "give-up"; reason: string };

export class RestartPolicy {
  readonly options: RestartPolicyOptions;
  private rapid = 0;

  constructor(options: Partial<RestartPolicyOptions> = {}) {
    this.options = { ...DEFAULT_RESTART_POLICY, ...options };
    const o = this.options;
    if (!(o.initialDelayMs >= 0 && o.maxDelayMs >= o.initialDelayMs && o.multiplier >= 1 && o.maxRapidCrashes >= 1)) {
      throw new RangeError(`invalid restart policy ${JSON.stringify(o)}`);
    }
  }

  /** A run that lasted `uptimeMs` ended unexpectedly with `exit`: restart after how long, or give up? */
  onCrash(uptimeMs: number, exit: { code: number | null; signal: string | null } = { code: 1, signal: null }): RestartDecision {
    const o = this.options;
    if (exit.signal === null && exit.code === EX_CONFIG) {
      return { action: "give-up", reason: `exit code ${EX_CONFIG} means a configuration error, which a restart will not fix` };
    }
    if (uptimeMs >= o.stableAfterMs) this.rapid = 0;
    this.rapid += 1;
    if (this.rapid > o.maxRapidCrashes) {
      return {
        action: "give-up",
        reason: `crash loop: it ended ${this.rapid} times in a row, each within ${formatDuration(o.stableAfterMs)} of starting`,
      };
    }
    const delayMs = Math.min(o.maxDelayMs, o.initialDelayMs * o.multiplier ** (this.rapid - 1));
    return { action: "restart", delayMs, rapidCrashes: this.rapid };
  }
}

/** "500 ms", "2 s", "1.5 min": for log lines a person reads. */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${Number((ms / 1_000).toFixed(1))} s`;
  return `${Number((ms / 60_000).toFixed(1))} min`;
}
