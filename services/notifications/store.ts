import { randomUUID } from "node:crypto";
import type pg from "pg";
import { inTransaction } from "#mesh/postgres.js";

export type StoredState = "ACTIVE" | "DISABLED";
export type StoredDeliveryStatus = "PENDING" | "RETRYING" | "SUCCEEDED" | "FAILED";

export interface SubscriptionRow {
  tenant_id: string;
  subscription_id: string;
  seq: string;
  url: string;
  event_types: string[];
  description: string;
  secret: string;
  state: StoredState;
  disabled_reason: string;
  consecutive_failures: number;
  create_time: Date;
  update_time: Date;
}

export interface AttemptRow {
  seq: string;
  subscription_id: string;
  delivery_id: string;
  event_id: string;
  event_type: string;
  attempt: number;
  status: StoredDeliveryStatus;
  http_status: number;
  error: string;
  start_time: Date;
  duration_ms: number;
  next_attempt_time: Date | null;
}

/** A delivery a dispatcher holds: what to send, where, and with which key. */
export interface ClaimedDelivery {
  delivery_id: string;
  tenant_id: string;
  subscription_id: string;
  event_id: string;
  body: string;
  attempts: number;
  url: string;
  secret: string;
}

export interface NewEvent {
  eventId: string;
  eventType: string;
  /** The webhook body for a given subscription. */
  body: string;
}

/** The outcome of one attempt, as the dispatcher saw it. */
export interface AttemptOutcome {
  ok: boolean;
  httpStatus: number;
  error: string;
  startTime: Date;
  durationMs: number;
}

export interface RetryPolicy {
  maxAttempts: number;
  disableAfterFailures: number;
  /** Wait before attempt `attempt + 1`, in ms. */
  backoffMs(attempt: number): number;
}

const SUBSCRIPTION_COLUMNS = `tenant_id, subscription_id, seq, url, event_types, description, secret, state, disabled_reason,
  consecutive_failures, create_time, update_time`;

const ATTEMPT_COLUMNS = `seq, subscription_id, delivery_id, event_id, event_type, attempt, status, http_status, error, start_time,
  duration_ms, next_attempt_time`;

export class NotificationStore {
  constructor(private readonly pool: pg.Pool) {}

  async createSubscription(tenant: string, s: { url: string; eventTypes: string[]; description: string; secret: string }): Promise<SubscriptionRow> {
    const { rows } = await this.pool.query<SubscriptionRow>(
      `INSERT INTO subscriptions (tenant_id, subscription_id, url, event_types, description, secret, state)
       VALUES ($1, $2, $3, $4, $5, $6, 'ACTIVE') RETURNING ${SUBSCRIPTION_COLUMNS}`,
      [tenant, randomUUID(), s.url, s.eventTypes, s.description, s.secret],
    );
    return rows[0]!;
  }

  async getSubscription(tenant: string, id: string): Promise<SubscriptionRow | undefined> {
    const { rows } = await this.pool.query<SubscriptionRow>(`SELECT ${SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE tenant_id = $1 AND subscription_id = $2`, [tenant, id]);
    return rows[0];
  }

  /** Newest first; `after` is the seq of the last row of the previous page. */
  async listSubscriptions(tenant: string, filter: { state: StoredState | "" }, limit: number, after: string | undefined): Promise<SubscriptionRow[]> {
    const { rows } = await this.pool.query<SubscriptionRow>(
      `SELECT ${SUBSCRIPTION_COLUMNS} FROM subscriptions
       WHERE tenant_id = $1 AND ($2 = '' OR state = $2) AND ($3::bigint IS NULL OR seq < $3::bigint)
       ORDER BY seq DESC LIMIT $4`,
      [tenant, filter.state, after ?? null, limit],
    );
    return rows;
  }

  /** Deletes the subscription; its queue and log go with it (cascade). False when there was none. */
  async deleteSubscription(tenant: string, id: string): Promise<boolean> {
    const { rowCount } = await this.pool.query("DELETE FROM subscriptions WHERE tenant_id = $1 AND subscription_id = $2", [tenant, id]);
    return (rowCount ?? 0) > 0;
  }

  /** Active again with no failures counted; an active subscription is left as it is. */
  async enableSubscription(tenant: string, id: string): Promise<SubscriptionRow | undefined> {
    await this.pool.query(
      `UPDATE subscriptions SET state = 'ACTIVE', disabled_reason = '', consecutive_failures = 0, update_time = now()
       WHERE tenant_id = $1 AND subscription_id = $2 AND state = 'DISABLED'`,
      [tenant, id],
    );
    return this.getSubscription(tenant, id);
  }

  /** Newest first; `after` is the seq of the last row of the previous page. */
  async listAttempts(tenant: string, subscriptionId: string, filter: { status: StoredDeliveryStatus | "" }, limit: number, after: string | undefined): Promise<AttemptRow[]> {
    const { rows } = await this.pool.query<AttemptRow>(
      `SELECT ${ATTEMPT_COLUMNS} FROM delivery_attempts
       WHERE tenant_id = $1 AND subscription_id = $2 AND ($3 = '' OR status = $3) AND ($4::bigint IS NULL OR seq < $4::bigint)
       ORDER BY seq DESC LIMIT $5`,
      [tenant, subscriptionId, filter.status, after ?? null, limit],
    );
    return rows;
  }

  /**
   * Records the event and queues one delivery per active subscription of the tenant that wants its type.
   * Returns the number queued, or 0 when the event id was published before (nothing is queued twice).
   */
  async publish(tenant: string, event: { eventId: string; eventType: string }, bodyFor: (s: SubscriptionRow) => string): Promise<number> {
    return inTransaction(this.pool, async (client) => {
      const inserted = await client.query(
        "INSERT INTO events (tenant_id, event_id, event_type) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        [tenant, event.eventId, event.eventType],
      );
      if ((inserted.rowCount ?? 0) === 0) return 0;
      const { rows: subs } = await client.query<SubscriptionRow>(
        `SELECT ${SUBSCRIPTION_COLUMNS} FROM subscriptions
         WHERE tenant_id = $1 AND state = 'ACTIVE' AND (cardinality(event_types) = 0 OR $2 = ANY (event_types))`,
        [tenant, event.eventType],
      );
      for (const s of subs) {
        await client.query(
          `INSERT INTO deliveries (delivery_id, tenant_id, subscription_id, event_id, event_type, body, state)
           VALUES ($1, $2, $3, $4, $5, $6, 'PENDING')`,
          [randomUUID(), tenant, s.subscription_id, event.eventId, event.eventType, bodyFor(s)],
        );
      }
      return subs.length;
    });
  }

  /**
   * Takes up to `limit` due deliveries of active subscriptions for `leaseMs`. SKIP LOCKED and the lease let
   * several replicas share the queue without sending one attempt twice.
   */
  async claimDue(limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
    const { rows } = await this.pool.query<ClaimedDelivery>(
      `WITH due AS (
         SELECT d.delivery_id FROM deliveries d
         JOIN subscriptions s USING (tenant_id, subscription_id)
         WHERE d.state IN ('PENDING', 'RETRYING') AND d.next_attempt_time <= now()
           AND (d.lease_until IS NULL OR d.lease_until < now()) AND s.state = 'ACTIVE'
         ORDER BY d.next_attempt_time LIMIT $1
         FOR UPDATE OF d SKIP LOCKED)
       UPDATE deliveries d SET lease_until = now() + make_interval(secs => $2::double precision / 1000)
       FROM due, subscriptions s
       WHERE d.delivery_id = due.delivery_id AND s.tenant_id = d.tenant_id AND s.subscription_id = d.subscription_id
       RETURNING d.delivery_id, d.tenant_id, d.subscription_id, d.event_id, d.body, d.attempts, s.url, s.secret`,
      [limit, leaseMs],
    );
    return rows;
  }

  /** Lets another dispatcher take a delivery at once (this one stopped before the attempt finished). */
  async releaseLease(deliveryId: string): Promise<void> {
    await this.pool.query("UPDATE deliveries SET lease_until = NULL WHERE delivery_id = $1", [deliveryId]);
  }

  /** Milliseconds until the next queued delivery is due (0 if one is due now); undefined when none is queued. */
  async msUntilNextDue(): Promise<number | undefined> {
    const { rows } = await this.pool.query<{ ms: number | null }>(
      `SELECT GREATEST(0, EXTRACT(EPOCH FROM (min(GREATEST(next_attempt_time, COALESCE(lease_until, next_attempt_time))) - now())) * 1000)::float8 AS ms
       FROM deliveries WHERE state IN ('PENDING', 'RETRYING')`,
    );
    return rows[0]?.ms ?? undefined;
  }

  /**
   * Logs one attempt and moves the delivery and its subscription on: success resets the failure count; a
   * failure schedules a retry, gives up after the last attempt, and disables the subscription once enough
   * attempts in a row have failed (its queued deliveries then fail too: enabling does not replay them).
   */
  async recordAttempt(d: ClaimedDelivery, outcome: AttemptOutcome, policy: RetryPolicy): Promise<{ status: StoredDeliveryStatus; disabledReason?: string }> {
    const attempt = d.attempts + 1;
    return inTransaction(this.pool, async (client) => {
      let status: StoredDeliveryStatus;
      let nextAttempt: Date | null = null;
      let disabledReason: string | undefined;
      if (outcome.ok) {
        status = "SUCCEEDED";
        await client.query(
          "UPDATE subscriptions SET consecutive_failures = 0, update_time = now() WHERE tenant_id = $1 AND subscription_id = $2 AND consecutive_failures <> 0",
          [d.tenant_id, d.subscription_id],
        );
      } else {
        const { rows } = await client.query<{ consecutive_failures: number; state: StoredState }>(
          `UPDATE subscriptions SET consecutive_failures = consecutive_failures + 1, update_time = now()
           WHERE tenant_id = $1 AND subscription_id = $2 RETURNING consecutive_failures, state`,
          [d.tenant_id, d.subscription_id],
        );
        const failures = rows[0]?.consecutive_failures ?? 0;
        if (rows[0]?.state === "ACTIVE" && failures >= policy.disableAfterFailures) {
          disabledReason = `disabled after ${failures} consecutive failed attempts; last error: ${outcome.error}`;
          await client.query(
            "UPDATE subscriptions SET state = 'DISABLED', disabled_reason = $3 WHERE tenant_id = $1 AND subscription_id = $2",
            [d.tenant_id, d.subscription_id, disabledReason],
          );
          await client.query(
            `UPDATE deliveries SET state = 'FAILED', lease_until = NULL
             WHERE tenant_id = $1 AND subscription_id = $2 AND state IN ('PENDING', 'RETRYING') AND delivery_id <> $3`,
            [d.tenant_id, d.subscription_id, d.delivery_id],
          );
          status = "FAILED";
        } else if (attempt >= policy.maxAttempts || rows[0]?.state !== "ACTIVE") {
          status = "FAILED";
        } else {
          status = "RETRYING";
          nextAttempt = new Date(Date.now() + policy.backoffMs(attempt));
        }
      }
      await client.query(
        `UPDATE deliveries SET state = $2, attempts = $3, next_attempt_time = COALESCE($4, next_attempt_time), lease_until = NULL
         WHERE delivery_id = $1`,
        [d.delivery_id, status, attempt, nextAttempt],
      );
      await client.query(
        `INSERT INTO delivery_attempts (tenant_id, subscription_id, delivery_id, event_id, event_type, attempt, status, http_status, error,
           start_time, duration_ms, next_attempt_time)
         SELECT tenant_id, subscription_id, delivery_id, event_id, event_type, $2, $3, $4, $5, $6, $7, $8 FROM deliveries WHERE delivery_id = $1`,
        [d.delivery_id, attempt, status, outcome.httpStatus, outcome.error, outcome.startTime, outcome.durationMs, nextAttempt],
      );
      return { status, disabledReason };
    });
  }

  /** Forgets log rows, finished deliveries and event ids older than the retention. */
  async prune(retentionDays: number): Promise<void> {
    const cutoff = `now() - make_interval(days => $1)`;
    await this.pool.query(`DELETE FROM delivery_attempts WHERE start_time < ${cutoff}`, [retentionDays]);
    await this.pool.query(`DELETE FROM deliveries WHERE state IN ('SUCCEEDED', 'FAILED') AND create_time < ${cutoff}`, [retentionDays]);
    await this.pool.query(`DELETE FROM events WHERE create_time < ${cutoff}`, [retentionDays]);
  }
}
