import { log } from "#mesh/logger.js";
import { EgressRefusedError } from "#mesh/egress.js";
import { postOnce } from "./post.js";
import { signatureHeaders } from "./signing.js";
import type { AttemptOutcome, ClaimedDelivery, NotificationStore, RetryPolicy } from "./store.js";

export interface DispatcherOptions {
  concurrency: number;
  timeoutMs: number;
  pollMs: number;
  retentionDays: number;
  allowPrivate: boolean;
  userAgent: string;
  policy: RetryPolicy;
}

const PRUNE_EVERY_MS = 3_600_000;

/** Exponential backoff (x4 per attempt) with full jitter: a random wait up to the capped exponential. */
export function backoff(baseMs: number, maxMs: number): (attempt: number) => number {
  return (attempt) => Math.round(Math.random() * Math.min(maxMs, baseMs * 4 ** Math.max(0, attempt - 1)));
}

/**
 * Sends queued deliveries in the background: at most `concurrency` at once, woken by Publish in this
 * process and otherwise by a timer (the next due retry, or `pollMs` for work queued by other replicas).
 */
export class Dispatcher {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly stopping = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private again = false;
  private lastPrune = 0;

  constructor(private readonly store: NotificationStore, private readonly opts: DispatcherOptions) {}

  start(): void {
    this.kick();
  }

  /** Looks for due work now (e.g. just after a publish). */
  kick(): void {
    if (this.stopping.signal.aborted) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.running = true;
    void this.pass()
      .catch((err) => log.warn("webhook dispatch pass failed", { error: (err as Error).message }))
      .finally(() => {
        this.running = false;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    clearTimeout(this.timer);
    await Promise.allSettled([...this.inFlight]);
  }

  private async pass(): Promise<void> {
    await this.pruneNow();
    const free = this.opts.concurrency - this.inFlight.size;
    if (free > 0) {
      // The lease outlives the attempt's time limit, so no other replica takes the delivery meanwhile.
      for (const d of await this.store.claimDue(free, this.opts.timeoutMs * 2 + 5_000)) this.track(this.deliver(d));
    }
    this.schedule(await this.store.msUntilNextDue());
  }

  private schedule(dueInMs: number | undefined): void {
    if (this.stopping.signal.aborted) return;
    const wait = Math.min(this.opts.pollMs, Math.max(dueInMs ?? Infinity, 5));
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.kick(), wait);
    this.timer.unref();
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    void p.finally(() => {
      this.inFlight.delete(p);
      this.kick(); // a slot is free, and the attempt may have scheduled a retry
    });
  }

  private async deliver(d: ClaimedDelivery): Promise<void> {
    const outcome = await this.attempt(d);
    // Cut short by shutdown: not the receiver's fault, so not logged as a failure; the next process retries it.
    if (this.stopping.signal.aborted) {
      await this.store.releaseLease(d.delivery_id).catch(() => undefined);
      return;
    }
    try {
      const { status, disabledReason } = await this.store.recordAttempt(d, outcome, this.opts.policy);
      if (disabledReason) log.warn("webhook subscription disabled", { tenant: d.tenant_id, subscription_id: d.subscription_id, reason: disabledReason });
      log.debug("webhook attempt", { tenant: d.tenant_id, delivery_id: d.delivery_id, attempt: d.attempts + 1, status, http_status: outcome.httpStatus });
    } catch (err) {
      // The lease runs out and the attempt is made again: at-least-once, which webhook-id lets receivers absorb.
      log.warn("could not record a webhook attempt", { delivery_id: d.delivery_id, error: (err as Error).message });
    }
  }

  private async attempt(d: ClaimedDelivery): Promise<AttemptOutcome> {
    const startTime = new Date();
    const headers = {
      "content-type": "application/json",
      "user-agent": this.opts.userAgent,
      ...signatureHeaders(d.secret, d.delivery_id, Math.floor(startTime.getTime() / 1000), d.body),
    };
    let ok = false;
    let httpStatus = 0;
    let error = "";
    try {
      const res = await postOnce(d.url, d.body, headers, { timeoutMs: this.opts.timeoutMs, allowPrivate: this.opts.allowPrivate, signal: this.stopping.signal });
      httpStatus = res.status;
      ok = res.status >= 200 && res.status < 300;
      if (!ok) error = `HTTP ${res.status}${res.bodyStart ? `: ${res.bodyStart}` : ""}`;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      // The delivery log is the tenant's to read: a refusal says why, not which internal address a name resolved to.
      if (err instanceof EgressRefusedError) error = "the destination is or resolves to an internal address, where deliveries are refused";
      else error = e.code && !e.message.includes(e.code) ? `${e.code}: ${e.message}` : e.message;
    }
    return { ok, httpStatus, error, startTime, durationMs: Date.now() - startTime.getTime() };
  }

  private async pruneNow(): Promise<void> {
    if (Date.now() - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = Date.now();
    await this.store.prune(this.opts.retentionDays);
  }
}
