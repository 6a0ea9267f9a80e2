import { JobEventType, type JobItemError, type WatchJobResponse } from "#gen/rag/v1/ingestion.js";
import { NotFoundError } from "#mesh/errors.js";
import type { JobBus, JobSignal } from "./bus.js";
import { toJob } from "./convert.js";
import { isTerminal, type JobRow, type JobStore } from "./store.js";

/** The contract: progress messages at most about once per second. State changes and failures are never held back. */
const PROGRESS_INTERVAL_MS = 1_000;

export interface WatchOptions {
  /** Re-read the job at least this often, to see changes made by another replica. */
  pollMs: number;
}

/**
 * WatchJob: a snapshot now, then a message per state change, per failed item and (throttled) per progress
 * change, until the message that reports a terminal state. Wakes on this process's job signals and polls
 * the store for changes made elsewhere. Returns quietly when the caller goes away (`signal`).
 */
export async function* watchJob(store: JobStore, bus: JobBus, tenant: string, jobId: string, signal: AbortSignal, opts: WatchOptions): AsyncGenerator<WatchJobResponse> {
  const signals: JobSignal[] = [];
  let wake: (() => void) | undefined;
  // Subscribe before the first read, so no change between the read and the subscription is missed.
  const unsubscribe = bus.subscribe(jobId, (s) => {
    signals.push(s);
    wake?.();
  });
  try {
    const first = await store.get(tenant, jobId);
    if (!first) throw new NotFoundError("job", jobId);
    yield { eventType: JobEventType.JOB_EVENT_TYPE_SNAPSHOT, job: toJob(first, await store.itemErrors(tenant, jobId)), itemError: undefined };
    if (isTerminal(first.state)) return;

    let sent = first;
    let progressSentAt = Date.now();
    let progressHeld = false;
    for (;;) {
      const waitMs = progressHeld ? Math.max(0, progressSentAt + PROGRESS_INTERVAL_MS - Date.now()) : opts.pollMs;
      if (signals.length === 0) await nextWake(waitMs, signal, (fn) => (wake = fn));
      wake = undefined;
      if (signal.aborted) return;
      const failures = signals.splice(0).flatMap((s) => (s.itemError ? [s.itemError] : []));
      const row = await store.get(tenant, jobId);
      if (!row) throw new NotFoundError("job", jobId);
      const job = toJob(row);
      for (const itemError of failures) yield failed(job, itemError);
      if (row.state !== sent.state) {
        yield { eventType: JobEventType.JOB_EVENT_TYPE_STATE_CHANGED, job, itemError: undefined };
        [sent, progressSentAt, progressHeld] = [row, Date.now(), false];
      } else if (progressChanged(row, sent)) {
        if (Date.now() - progressSentAt >= PROGRESS_INTERVAL_MS) {
          yield { eventType: JobEventType.JOB_EVENT_TYPE_PROGRESS, job, itemError: undefined };
          [sent, progressSentAt, progressHeld] = [row, Date.now(), false];
        } else progressHeld = true;
      }
      if (isTerminal(row.state)) return;
    }
  } finally {
    unsubscribe();
  }
}

function failed(job: WatchJobResponse["job"], itemError: JobItemError): WatchJobResponse {
  return { eventType: JobEventType.JOB_EVENT_TYPE_ITEM_FAILED, job, itemError };
}

function progressChanged(a: JobRow, b: JobRow): boolean {
  return JSON.stringify([a.progress, a.quality_report]) !== JSON.stringify([b.progress, b.quality_report]);
}

/** Resolves on a job signal, after `ms`, or when the caller goes away, whichever comes first. */
function nextWake(ms: number, signal: AbortSignal, setWake: (fn: () => void) => void): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    setWake(done);
  });
}
