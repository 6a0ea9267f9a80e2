import { randomUUID } from "node:crypto";
import type { NotificationsServiceService } from "#gen/rag/v1/notifications.js";
import { requireTenant } from "#mesh/context.js";
import { NotFoundError } from "#mesh/errors.js";
import type { ServiceImpl } from "#mesh/handlers.js";
import { decodePageToken, encodePageToken, PAGE_DEFAULTS, pageSize } from "#mesh/pagination.js";
import { fromState, fromStatus, toDelivery, toSubscription, webhookBody } from "./convert.js";
import { checkDestination, type DestinationPolicy } from "./destination.js";
import type { NotificationStore, SubscriptionRow } from "./store.js";
import * as valid from "./validate.js";

type Impl = ServiceImpl<typeof NotificationsServiceService>;

export interface NotificationsDeps {
  store: NotificationStore;
  /** Called after a publish queued deliveries, so they go out without waiting for the next poll. */
  onQueued: () => void;
  /** Which webhook destinations Subscribe accepts: those the delivery guard would deliver to. */
  destinations: DestinationPolicy;
}

/**
 * One keyset page, newest first: reads one row more than asked to know whether another page follows; the
 * token holds the seq of the page's last row and is bound to the filters.
 */
async function paged<R extends { seq: string }>(
  req: { pageSize: number; pageToken: string },
  filter: unknown,
  read: (limit: number, afterSeq: string | undefined) => Promise<R[]>,
): Promise<{ items: R[]; nextPageToken: string }> {
  const size = pageSize(req.pageSize, PAGE_DEFAULTS);
  const rows = await read(size + 1, decodePageToken<{ seq: string }>(req.pageToken, filter)?.seq);
  const items = rows.slice(0, size);
  return { items, nextPageToken: rows.length > size ? encodePageToken({ seq: items[items.length - 1]!.seq }, filter) : "" };
}

export function notificationsService({ store, onQueued, destinations }: NotificationsDeps): Impl {
  /** The tenant's subscription, or NOT_FOUND (also for another tenant's: its existence is not revealed). */
  async function owned(tenant: string, value: string): Promise<SubscriptionRow> {
    const { id, wellFormed } = valid.subscriptionId(value);
    const row = wellFormed ? await store.getSubscription(tenant, id) : undefined;
    if (!row) throw new NotFoundError("subscription", id);
    return row;
  }

  return {
    async subscribe(req, ctx) {
      const tenant = requireTenant(ctx);
      const input = {
        url: valid.url(req.url),
        eventTypes: valid.eventTypes(req.eventTypes),
        description: valid.description(req.description),
        secret: valid.secret(req.secret),
      };
      await checkDestination(input.url, destinations);
      const row = await store.createSubscription(tenant, input);
      return { subscription: toSubscription(row), secret: input.secret };
    },

    async getSubscription(req, ctx) {
      const tenant = requireTenant(ctx);
      return { subscription: toSubscription(await owned(tenant, req.subscriptionId)) };
    },

    async listSubscriptions(req, ctx) {
      const tenant = requireTenant(ctx);
      const filter = { state: fromState(req.state) };
      const { items, nextPageToken } = await paged(req, filter, (limit, after) => store.listSubscriptions(tenant, filter, limit, after));
      return { subscriptions: items.map(toSubscription), nextPageToken };
    },

    async enableSubscription(req, ctx) {
      const tenant = requireTenant(ctx);
      const { subscription_id: id } = await owned(tenant, req.subscriptionId);
      const row = await store.enableSubscription(tenant, id);
      if (!row) throw new NotFoundError("subscription", id);
      return { subscription: toSubscription(row) };
    },

    async unsubscribe(req, ctx) {
      const tenant = requireTenant(ctx);
      const { id, wellFormed } = valid.subscriptionId(req.subscriptionId);
      if (!wellFormed || !(await store.deleteSubscription(tenant, id))) throw new NotFoundError("subscription", id);
      return {};
    },

    async listDeliveries(req, ctx) {
      const tenant = requireTenant(ctx);
      const { subscription_id: id } = await owned(tenant, req.subscriptionId);
      const filter = { subscription: id, status: fromStatus(req.status) };
      const { items, nextPageToken } = await paged(req, filter, (limit, after) => store.listAttempts(tenant, id, filter, limit, after));
      return { deliveries: items.map(toDelivery), nextPageToken };
    },

    async publish(req, ctx) {
      const tenant = requireTenant(ctx);
      const eventType = valid.eventType("event_type", req.eventType);
      const eventId = valid.eventId(req.eventId) || randomUUID();
      const occurTime = req.occurTime ?? new Date();
      const body = webhookBody({ eventId, eventType, tenant, occurTime, payload: req.payload ?? {} });
      const count = await store.publish(tenant, { eventId, eventType }, () => body);
      if (count > 0) onQueued();
      return { eventId, subscriptionCount: count };
    },
  };
}
