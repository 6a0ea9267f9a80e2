import { DeliveryStatus, SubscriptionState, type Delivery, type Subscription } from "#gen/rag/v1/notifications.js";
import type { AttemptRow, StoredDeliveryStatus, StoredState, SubscriptionRow } from "./store.js";

const STATES: Record<StoredState, SubscriptionState> = {
  ACTIVE: SubscriptionState.SUBSCRIPTION_STATE_ACTIVE,
  DISABLED: SubscriptionState.SUBSCRIPTION_STATE_DISABLED,
};

const STATUSES: Record<StoredDeliveryStatus, DeliveryStatus> = {
  PENDING: DeliveryStatus.DELIVERY_STATUS_PENDING,
  SUCCEEDED: DeliveryStatus.DELIVERY_STATUS_SUCCEEDED,
  RETRYING: DeliveryStatus.DELIVERY_STATUS_RETRYING,
  FAILED: DeliveryStatus.DELIVERY_STATUS_FAILED,
};

/** The stored state a filter asks for; "" for UNSPECIFIED (any). */
export function fromState(state: SubscriptionState): StoredState | "" {
  return (Object.keys(STATES) as StoredState[]).find((k) => STATES[k] === state) ?? "";
}

export function fromStatus(status: DeliveryStatus): StoredDeliveryStatus | "" {
  return (Object.keys(STATUSES) as StoredDeliveryStatus[]).find((k) => STATUSES[k] === status) ?? "";
}

export function toSubscription(row: SubscriptionRow): Subscription {
  return {
    subscriptionId: row.subscription_id,
    tenantId: row.tenant_id,
    url: row.url,
    eventTypes: row.event_types,
    description: row.description,
    state: STATES[row.state],
    disabledReason: row.disabled_reason,
    consecutiveFailures: row.consecutive_failures,
    secretHint: row.secret.slice(-4),
    createTime: row.create_time,
    updateTime: row.update_time,
  };
}

export function toDelivery(row: AttemptRow): Delivery {
  return {
    deliveryId: row.delivery_id,
    subscriptionId: row.subscription_id,
    eventId: row.event_id,
    eventType: row.event_type,
    attempt: row.attempt,
    status: STATUSES[row.status],
    httpStatus: row.http_status,
    error: row.error,
    startTime: row.start_time,
    durationMs: row.duration_ms,
    nextAttemptTime: row.next_attempt_time ?? undefined,
  };
}

/**
 * The webhook body: {"id", "type", "tenant", "created" (RFC 3339), "data"}. Built once at publish time so
 * every attempt signs the same bytes.
 */
export function webhookBody(e: { eventId: string; eventType: string; tenant: string; occurTime: Date; payload: Record<string, unknown> }): string {
  return JSON.stringify({ id: e.eventId, type: e.eventType, tenant: e.tenant, created: e.occurTime.toISOString(), data: e.payload });
}
