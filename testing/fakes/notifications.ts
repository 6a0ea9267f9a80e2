/**
 * Test double of the notifications service: rag.v1.NotificationsService's Publish as
 * proto/rag/v1/notifications.proto defines it, served over real gRPC (testing/fakes/set.ts starts it); the
 * subscription methods are UNIMPLEMENTED (no caller under test uses them). Publish requires a tenant and
 * records the event; `failing` makes it answer UNIMPLEMENTED, to show publishing is best-effort.
 */
import { NotificationsServiceService, type PublishRequest } from "#gen/rag/v1/notifications.js";
import { requireTenant } from "#mesh/context.js";
import { UnimplementedError } from "#mesh/errors.js";
import { notImplemented } from "#mesh/handlers.js";
import { serve } from "#mesh/server.js";
import { requestsOf, type Recorded } from "./recorded.js";

export class FakeNotifications {
  readonly events: Recorded<PublishRequest>[] = [];
  failing = false;

  eventsOf(tenant: string): PublishRequest[] {
    return requestsOf(this.events, tenant);
  }

  reset(): void {
    this.events.length = 0;
    this.failing = false;
  }

  service() {
    return serve(NotificationsServiceService, {
      publish: async (req, ctx) => {
        const tenant = requireTenant(ctx);
        if (this.failing) throw new UnimplementedError("rag.v1.NotificationsService/Publish");
        this.events.push({ tenant, request: req });
        return { eventId: req.eventId, subscriptionCount: 0 };
      },
      ...notImplemented(NotificationsServiceService, "subscribe", "getSubscription", "listSubscriptions", "enableSubscription", "unsubscribe", "listDeliveries"),
    });
  }
}
