import { JobEventType, type Job, type JobItemError, type WatchJobResponse } from "#gen/rag/v1/ingestion.js";
import { NotFoundError } from "#mesh/errors.js";
import type { JobBus, JobSignal } from "./bus.js";
import { toItemError, toJob } from "./convert.js";
import { isTerminal, type JobRow, type JobStore } from "./store.js";

/** The contract: progress messages at most about once per second. State changes and failures are never held back. */
const PROGRESS_INTERVAL_MS = 1_000;

export interface WatchOptions {
  /** Re-read the job at least this often, to see changes made by another replica. */
  pollMs: number;
  /** Resume point: the `sequence` of the last message an earlier stream delivered ("0": a new watch). */
  afterSequence: string;
}

/**
 * WatchJob: a snapshot now (or, resuming after `afterSequence`, only what the watcher has not seen), then
 * a message per state change, per failed item and (throttled) per progress change, until the message that
 * reports a terminal state. Every message carries the job's event sequence (jobs.event_seq), strictly
 * increasing within a stream, so a watcher cut off by connection ageing resumes where it was. Wakes on this
 * process's job signals and polls the store for changes made elsewhere. Returns quietly when the caller
 * goes away (`signal`).
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
    const after = BigInt(opts.afterSequence || "0");
    const first = await store.get(tenant, jobId);
    if (!first) throw new NotFoundError("job", jobId);
    let last = after; // sequence of the last message the watcher has
    const message = (eventType: JobEventType, job: Job, sequence: bigint, itemError?: JobItemError): WatchJobResponse => {
      last = sequence;
      return { eventType, job, itemError, sequence: String(sequence) };
    };
    let sent: JobRow = first;

    if (after === 0n) {
      yield message(JobEventType.JOB_EVENT_TYPE_SNAPSHOT, toJob(first, await store.itemErrors(tenant, jobId)), BigInt(first.event_seq));
    } else {
      // Resuming: the failures recorded since, then the job as it is now if it changed.
      const job = toJob(first);
      for (const e of await store.itemErrors(tenant, jobId, String(after))) {
        const seq = BigInt(e.event_seq ?? "0");
        if (seq > last) yield message(JobEventType.JOB_EVENT_TYPE_ITEM_FAILED, job, seq, toItemError(e));
      }
      const seq = BigInt(first.event_seq);
      if (seq > last) {
        const type = BigInt(first.state_seq) > after ? JobEventType.JOB_EVENT_TYPE_STATE_CHANGED : JobEventType.JOB_EVENT_TYPE_PROGRESS;
        yield message(type, job, seq);
      }
    }
    if (isTerminal(first.state)) return;

    let progressSentAt = Date.now();
    let progressHeld = false;
    for (;;) {
      const waitMs = progressHeld ? Math.max(0, progressSentAt + PROGRESS_INTERVAL_MS - Date.now()) : opts.pollMs;
      if (signals.length === 0) await nextWake(waitMs, signal, (fn) => (wake = fn));
      wake = undefined;
      if (signal.aborted) return;
      const live = signals.splice(0).filter((s) => s.itemError && s.sequence !== undefined);
      const row = await store.get(tenant, jobId);
      if (!row) throw new NotFoundError("job", jobId);
      const job = toJob(row);
      // Failures: this process's signals, and those another replica recorded (kept in the store).
      const failures = new Map<bigint, JobItemError>();
      for (const s of live) failures.set(BigInt(s.sequence!), s.itemError!);
      if (row.item_error_count > sent.item_error_count) {
        for (const e of await store.itemErrors(tenant, jobId, String(last))) failures.set(BigInt(e.event_seq ?? "0"), toItemError(e));
      }
      // Failures and the state change, in the order they happened (a state change is told with its own sequence).
      const ordered: [bigint, JobEventType, JobItemError | undefined][] = [...failures].map(([seq, e]) => [seq, JobEventType.JOB_EVENT_TYPE_ITEM_FAILED, e]);
      const stateChanged = row.state !== sent.state;
      if (stateChanged) ordered.push([BigInt(row.state_seq), JobEventType.JOB_EVENT_TYPE_STATE_CHANGED, undefined]);
      ordered.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      for (const [seq, type, itemError] of ordered) if (seq > last) yield message(type, job, seq, itemError);
      const seq = BigInt(row.event_seq);
      if (stateChanged || seq <= last) {
        // The messages just sent carry the job as it is now.
        if (stateChanged) [progressSentAt, progressHeld] = [Date.now(), false];
        sent = row;
      } else if (progressChanged(row, sent)) {
        if (Date.now() - progressSentAt >= PROGRESS_INTERVAL_MS) {
          yield message(JobEventType.JOB_EVENT_TYPE_PROGRESS, job, seq);
          [sent, progressSentAt, progressHeld] = [row, Date.now(), false];
        } else progressHeld = true;
      }
      if (isTerminal(row.state)) return;
    }
  } finally {
    unsubscribe();
  }
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
