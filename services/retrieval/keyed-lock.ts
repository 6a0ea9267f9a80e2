/**
 * Serialises async work per key inside this process: two writes to one collection never interleave their
 * read-modify-write of the collection's version, while writes to different collections run in parallel.
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(work, work);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await result;
    } finally {
      // Forget the key once nothing is queued behind us, so the map does not grow with every collection.
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
