import type { ServerMiddleware } from "./server-call.js";

export interface CallTracker {
  /** Called as a call starts and ends; the server uses it to know when draining is done. */
  enter(): void;
  leave(): void;
  defaultDeadlineMs: number;
}

/** Counts the call in flight until it is answered, so a draining server knows when it is done. */
export function trackCalls(tracker: () => CallTracker): ServerMiddleware {
  return async (_call, next) => {
    const t = tracker();
    t.enter();
    try {
      await next();
    } finally {
      t.leave();
    }
  };
}
