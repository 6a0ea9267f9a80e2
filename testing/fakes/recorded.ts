/** What a test double received: the request, and the tenant the call carried (so tests can check isolation). */
export interface Recorded<R> {
  tenant: string | undefined;
  request: R;
}

/** The requests of `list` that one tenant sent. */
export function requestsOf<R>(list: Recorded<R>[], tenant: string): R[] {
  return list.filter((r) => r.tenant === tenant).map((r) => r.request);
}
