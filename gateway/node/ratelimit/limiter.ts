import type { Subjects } from "./buckets.js";
import type { Decision } from "./decision.js";

/**
 * Admission for one request: it is admitted only if every bucket of the caller's API key and of its tenant holds
 * `cost` tokens (default 1), and then `cost` is taken from each, atomically. A refusal takes nothing.
 * Throws (an Error naming the problem) for bad subjects, an unknown role, or a cost no bucket could ever hold.
 */
export interface RateLimiter {
  take(subjects: Subjects, cost?: number): Promise<Decision>;
  close(): Promise<void>;
}
