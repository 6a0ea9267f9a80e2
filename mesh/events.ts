import { status as grpcStatus } from "@grpc/grpc-js";
import { PublishRequest, type NotificationsServiceClient } from "#gen/rag/v1/notifications.js";
import type { PromiseClient } from "./client.js";
import { REQUEST_ID_KEY, TENANT_KEY, runDetached } from "./context.js";
import { log } from "./logger.js";

const PUBLISH_TIMEOUT_MS = 5_000;
/** Publishes in flight at once; beyond, events are dropped (with a warning) rather than piling up. */
const MAX_IN_FLIGHT = 64;

export interface ProductEvent {
  tenant: string;
  /** e.g. "document.deleted"; see proto/rag/v1/notifications.proto for the catalogue. */
  type: string;
  payload: Record<string, unknown>;
  /** Stable id: a retried publish of the same event is delivered once. */
  id: string;
  /** What the event belongs to (a job id, a document id): its request id, and the unit of "warn once". */
  scope: string;
}

/**
 * Best-effort events to the notifications service. The work that raises an event never waits for, or
 * fails because of, a publish: an unreachable notifications service costs one warning per scope.
 */
export class EventPublisher {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly warned = new Set<string>();

  constructor(private readonly notifications: Pick<PromiseClient<typeof NotificationsServiceClient.service>, "publish">) {}

  publish(event: ProductEvent): void {
    if (this.inFlight.size >= MAX_IN_FLIGHT) {
      this.warnOnce(event, "too many publishes in flight; event dropped");
      return;
    }
    // Its own context (deadline, signal, tenant, request id), never the raising call's or job's: an event
    // outlives the request that caused it, and a job-failed event is raised precisely when time ran out.
    const detached = { service: "events", method: event.type, tenantId: event.tenant, callerId: undefined, requestId: event.scope, deadline: Date.now() + PUBLISH_TIMEOUT_MS };
    const p = runDetached(detached, () =>
      this.notifications.publish(PublishRequest.fromPartial({ eventType: event.type, payload: event.payload, eventId: event.id, occurTime: new Date() }), {
        deadlineMs: PUBLISH_TIMEOUT_MS,
        metadata: { [TENANT_KEY]: event.tenant, [REQUEST_ID_KEY]: event.scope },
      }),
    )
      .then(
        () => undefined,
        (err) => this.warnOnce(event, describe(err)),
      )
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  /** Waits (bounded) for publishes in flight, at shutdown. */
  async drain(timeoutMs = PUBLISH_TIMEOUT_MS): Promise<void> {
    await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }

  private warnOnce(event: ProductEvent, error: string): void {
    if (this.warned.has(event.scope)) return;
    if (this.warned.size >= 1_000) this.warned.clear(); // bounded memory; at worst a scope warns twice
    this.warned.add(event.scope);
    log.warn("could not publish an event (best effort; the work goes on)", { scope: event.scope, event_type: event.type, error });
  }
}

function describe(err: unknown): string {
  const e = err as { code?: unknown; details?: unknown };
  if (typeof e?.code === "number" && typeof e.details === "string") return `${grpcStatus[e.code] ?? e.code}: ${e.details}`;
  return err instanceof Error ? err.message : String(err);
}
