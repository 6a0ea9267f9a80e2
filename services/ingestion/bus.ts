import type { JobItemError } from "#gen/rag/v1/ingestion.js";

/** What a watcher is told: the job changed (re-read it), and maybe which item failed. */
export interface JobSignal {
  itemError?: JobItemError;
  /** The job's event_seq at which `itemError` was recorded. */
  sequence?: string;
}

/**
 * In-process change notifications per job, so WatchJob streams wake when this process changes a job.
 * Changes made by another replica are seen by the watcher's periodic re-read instead.
 */
export class JobBus {
  private readonly listeners = new Map<string, Set<(signal: JobSignal) => void>>();

  subscribe(jobId: string, listener: (signal: JobSignal) => void): () => void {
    let set = this.listeners.get(jobId);
    if (!set) this.listeners.set(jobId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(jobId);
    };
  }

  publish(jobId: string, signal: JobSignal = {}): void {
    for (const listener of this.listeners.get(jobId) ?? []) listener(signal);
  }

  /** Number of open subscriptions (tests and metrics). */
  get size(): number {
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }
}
