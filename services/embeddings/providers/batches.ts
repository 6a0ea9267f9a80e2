/** Splits `items` into consecutive slices of at most `size`. */
export function inBatches<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Runs `fn` over `items` with at most `limit` in flight and returns the results in item order. On the
 * first failure no new item starts, the others' signal fires (so in-flight requests stop), and that
 * failure is thrown.
 */
export async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  signal: AbortSignal | undefined,
  fn: (item: T, index: number, signal: AbortSignal) => Promise<R>,
): Promise<R[]> {
  const failed = new AbortController();
  const shared = signal ? AbortSignal.any([signal, failed.signal]) : failed.signal;
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length && !shared.aborted) {
      const index = next++;
      try {
        results[index] = await fn(items[index]!, index, shared);
      } catch (err) {
        failed.abort(err);
        throw err;
      }
    }
  };
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker);
  const settled = await Promise.allSettled(workers);
  // The first failure is the cause; later ones are mostly "aborted because of it".
  if (failed.signal.aborted) throw failed.signal.reason;
  const rejected = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (rejected) throw rejected.reason;
  signal?.throwIfAborted();
  return results;
}
