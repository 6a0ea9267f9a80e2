import type { WatchRevocationsResponse } from "#gen/rag/v1/identity.js";
import { REVOCATION_MEMORY_MS } from "#mesh/auth/revocations.js";
import { log } from "#mesh/logger.js";
import type { IdentityStore, RevocationRow } from "./store.js";

/** How often the shared poll looks for revocations made by other identity replicas. */
const DEFAULT_POLL_MS = 250;
/**
 * Each poll reads the revocations recorded in this last stretch of time (by the database's clock) and sends
 * those it has not sent yet, so a revocation whose transaction commits after a later one is not missed.
 */
const OVERLAP_MS = 10_000;
const PRUNE_EVERY_MS = 10 * 60_000;
/** The stream ends cleanly this long before the call's deadline, so a watcher sees an end, not DEADLINE_EXCEEDED. */
const END_BEFORE_DEADLINE_MS = 1_000;

type Listener = (rows: RevocationRow[]) => void;

/**
 * WatchRevocations: revocations are rows of key_revocations (written in the revoking transaction), so every
 * identity replica sees all of them. One poll per process runs while someone watches, and fans out to the
 * streams; a revocation made by this process wakes the poll at once (`kick`), one made by another replica
 * is seen within a poll interval.
 */
export class RevocationFeed {
  private readonly listeners = new Set<Listener>();
  /** Revocations already fanned out, with when they were first seen (forgotten after twice the overlap). */
  private readonly sent = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private again = false;
  private prunedAt = 0;

  constructor(
    private readonly store: IdentityStore,
    private readonly pollMs = DEFAULT_POLL_MS,
  ) {}

  /** A revocation was just committed here: look now rather than at the next tick. */
  kick(): void {
    if (this.listeners.size > 0) void this.poll();
  }

  /**
   * The stream for one watcher: first the revocations recent enough to matter, then each batch as it is
   * seen, until `signal` aborts (the caller went away) or, cleanly, at `until` (epoch ms) but no later than
   * just before the call's deadline: the watcher then reconnects and gets the recent list again.
   */
  async *watch(callSignal: AbortSignal, until = Number.POSITIVE_INFINITY, deadline = Number.POSITIVE_INFINITY): AsyncGenerator<WatchRevocationsResponse> {
    const endIn = Math.min(until, deadline - END_BEFORE_DEADLINE_MS) - Date.now();
    const signal = Number.isFinite(endIn) ? AbortSignal.any([callSignal, AbortSignal.timeout(Math.max(0, endIn))]) : callSignal;
    const queue: RevocationRow[] = [];
    let wake: (() => void) | undefined;
    // Listen before reading the recent list, so nothing recorded in between is missed (a duplicate is harmless).
    const unsubscribe = this.subscribe((rows) => {
      queue.push(...rows);
      wake?.();
    });
    try {
      yield toResponse(await this.store.revocationsSince(undefined, REVOCATION_MEMORY_MS));
      while (!signal.aborted) {
        if (queue.length === 0) {
          await new Promise<void>((resolve) => {
            wake = resolve;
            signal.addEventListener("abort", () => resolve(), { once: true });
          });
          wake = undefined;
        }
        if (signal.aborted) return;
        if (queue.length > 0) yield toResponse(queue.splice(0));
      }
    } finally {
      unsubscribe();
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.listeners.clear();
  }

  private subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    if (!this.timer) {
      this.timer = setInterval(() => void this.poll(), this.pollMs);
      this.timer.unref();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  /** One poll at a time; a kick during a poll runs another right after it. */
  private poll(): Promise<void> {
    if (this.polling) {
      this.again = true;
      return this.polling;
    }
    this.polling = (async () => {
      do {
        this.again = false;
        try {
          await this.pollOnce();
        } catch (err) {
          log.warn("could not read key revocations", { error: (err as Error).message });
        }
      } while (this.again);
    })().finally(() => (this.polling = undefined));
    return this.polling;
  }

  private async pollOnce(): Promise<void> {
    const now = Date.now();
    if (now - this.prunedAt > PRUNE_EVERY_MS) {
      this.prunedAt = now;
      await this.store.pruneRevocations(REVOCATION_MEMORY_MS);
    }
    const rows = await this.store.revocationsSince(undefined, OVERLAP_MS);
    const fresh = rows.filter((r) => !this.sent.has(r.api_key_id));
    for (const r of fresh) this.sent.set(r.api_key_id, now);
    for (const [id, at] of this.sent) if (at < now - 2 * OVERLAP_MS) this.sent.delete(id);
    if (fresh.length > 0) for (const listener of this.listeners) listener(fresh);
  }
}

function toResponse(rows: RevocationRow[]): WatchRevocationsResponse {
  return { revoked: rows.map((r) => ({ apiKeyId: r.api_key_id, tenantId: r.tenant_id, revokeTime: r.revoke_time })) };
}
