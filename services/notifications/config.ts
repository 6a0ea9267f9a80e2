import { z } from "zod";

const count = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

export const notificationsEnvSchema = z.object({
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, "expected a postgres:// connection URL"),
  /** Deliveries in flight at once in this process. */
  NOTIFICATIONS_CONCURRENCY: count(1, 256).default(8),
  /** Time limit of one delivery attempt (connect, request and response). */
  NOTIFICATIONS_TIMEOUT_MS: count(100, 120_000).default(10_000),
  /** Attempts per event and subscription before the delivery is given up. */
  NOTIFICATIONS_MAX_ATTEMPTS: count(1, 100).default(6),
  /** Backoff before the 2nd attempt; each further retry may wait 4 times longer (full jitter). */
  NOTIFICATIONS_RETRY_BASE_MS: count(1, 86_400_000).default(30_000),
  /** Longest wait between two attempts. */
  NOTIFICATIONS_RETRY_MAX_MS: count(1, 7 * 86_400_000).default(6 * 3_600_000),
  /** Failed attempts in a row (across events) after which a subscription is disabled. */
  NOTIFICATIONS_DISABLE_AFTER_FAILURES: count(1, 10_000).default(20),
  /** Longest the dispatcher sleeps before looking for due deliveries queued by other replicas. */
  NOTIFICATIONS_POLL_MS: count(10, 600_000).default(1_000),
  /** Days the delivery log and published events are kept. */
  NOTIFICATIONS_RETENTION_DAYS: count(1, 3650).default(30),
  /**
   * Deliver to hosts that resolve to loopback, private or link-local addresses. Off by default so a tenant
   * cannot make the service POST to internal endpoints (cloud metadata, admin ports).
   */
  NOTIFICATIONS_ALLOW_PRIVATE: z.stringbool().default(false),
  /** User-Agent of the deliveries. */
  NOTIFICATIONS_USER_AGENT: z.string().min(1).default("RagMesh-Webhooks/1"),
});

export type NotificationsEnv = z.infer<typeof notificationsEnvSchema>;
