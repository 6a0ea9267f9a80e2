/**
 * Revoked API keys, as announced by identity's WatchRevocations stream.
 *
 * Access tokens are verified locally (ES256 against identity's JWKS) and remembered for up to a minute, so
 * without news from identity a process would keep accepting a revoked key's tokens until they expire. A
 * process that watches (the gateway does) refuses every token carrying a revoked key's id (`akid`) from the
 * moment the announcement arrives, whatever its caches hold. An entry is kept as long as a token issued
 * before the revocation can live (identity's longest token lifetime), then forgotten.
 *
 * Every gateway replica holds its own stream to identity; any identity replica serves it from Postgres, so
 * a revocation made on one replica reaches the gateways watching another.
 */
import { log } from "../logger.js";

/** Identity's longest access-token lifetime (services/identity/signing.ts MAX_TOKEN_TTL_S), plus clock slack. */
export const REVOCATION_MEMORY_MS = 3_600_000 + 5 * 60_000;

export class RevokedKeys {
  private readonly forgetAt = new Map<string, number>();
  private readonly listeners = new Set<(apiKeyId: string) => void>();

  /** Records a revocation (idempotent) and tells the listeners. */
  add(apiKeyId: string, revokeTime: Date | undefined): void {
    const until = (revokeTime?.getTime() ?? Date.now()) + REVOCATION_MEMORY_MS;
    if (until <= Date.now()) return;
    const known = this.forgetAt.has(apiKeyId);
    this.forgetAt.set(apiKeyId, until);
    if (!known) for (const listener of this.listeners) listener(apiKeyId);
  }

  has(apiKeyId: string | undefined): boolean {
    if (apiKeyId === undefined) return false;
    const until = this.forgetAt.get(apiKeyId);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.forgetAt.delete(apiKeyId);
    return false;
  }

  /** Called once per newly revoked key (e.g. to drop a cache entry). Returns the unsubscribe function. */
  onRevoked(listener: (apiKeyId: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Forgets entries past their time; run now and then. */
  prune(): void {
    const now = Date.now();
    for (const [id, until] of this.forgetAt) if (until <= now) this.forgetAt.delete(id);
  }

  get size(): number {
    return this.forgetAt.size;
  }
}

/** This process's list: the token verifier of mesh/auth consults it for every user token. */
export const revokedKeys = new RevokedKeys();

/** One batch of the stream: the revoked keys it names. */
export interface RevocationBatch {
  revoked: { apiKeyId: string; tenantId: string; revokeTime?: Date | undefined }[];
}

export interface RevocationWatch {
  /** True while the stream is connected and its first batch (the recent revocations) has arrived. */
  readonly live: boolean;
  /** Resolves the first time the watch becomes live. */
  readonly firstLive: Promise<void>;
  /**
   * How long the watch has not been live: 0 while live, Infinity before it was ever live. Streams end now
   * and then (connection ageing, deadlines) and reconnect within moments; readiness can allow for that.
   */
  downForMs(): number;
  close(): void;
}

export interface WatchOptions {
  /** Opens the stream (identity's WatchRevocations with a service token); it yields batches until it ends or fails. */
  open(signal: AbortSignal): AsyncIterable<RevocationBatch>;
  into?: RevokedKeys;
  /** First reconnect delay; doubles up to maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Called when the watch goes live or stops being live. */
  onChange?: (live: boolean) => void;
}

/**
 * Keeps a revocation stream open: applies each batch, and reconnects with backoff whenever the stream ends
 * or fails (identity restarting, connection ageing, its deadline). On every (re)connect identity first
 * sends the recent revocations, so whatever was announced while disconnected is caught up.
 */
export function watchRevocations(opts: WatchOptions): RevocationWatch {
  const into = opts.into ?? revokedKeys;
  const base = opts.backoffMs ?? 250;
  const max = opts.maxBackoffMs ?? 5_000;
  const stop = new AbortController();
  let live = false;
  let downSince = Number.NEGATIVE_INFINITY;
  let resolveFirst!: () => void;
  const firstLive = new Promise<void>((resolve) => (resolveFirst = resolve));
  const setLive = (value: boolean) => {
    if (live === value) return;
    live = value;
    if (value) resolveFirst();
    else downSince = Date.now();
    opts.onChange?.(value);
  };

  void (async () => {
    let delay = base;
    let lastProblem = "";
    let failures = 0;
    while (!stop.signal.aborted) {
      try {
        for await (const batch of opts.open(stop.signal)) {
          for (const r of batch.revoked) into.add(r.apiKeyId, r.revokeTime);
          into.prune();
          setLive(true);
          delay = base;
          lastProblem = "";
          failures = 0;
        }
      } catch (err) {
        if (stop.signal.aborted) break;
        const problem = err instanceof Error ? err.message : String(err);
        // A live stream cut once (connection ageing) is routine; failing to get it back is worth a warning,
        // once per kind of problem rather than once per retry.
        failures++;
        if (failures === 1) log.info("revocation watch interrupted; reconnecting", { error: problem });
        else if (failures === 2 || problem !== lastProblem) log.warn("revocation watch cannot reconnect; retrying", { error: problem, attempts: failures });
        lastProblem = problem;
      }
      setLive(false);
      if (stop.signal.aborted) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        stop.signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
      });
      delay = Math.min(max, delay * 2);
    }
  })();

  return {
    get live() {
      return live;
    },
    firstLive,
    downForMs: () => (live ? 0 : Date.now() - downSince),
    close() {
      stop.abort();
      setLive(false);
    },
  };
}
