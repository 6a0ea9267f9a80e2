import { PublishRequest } from "#gen/rag/v1/notifications.js";
import { log } from "#mesh/logger.js";
import { jobCallOptions, type Clients } from "./clients.js";
import { describeError } from "./indexer.js";

const PUBLISH_TIMEOUT_MS = 5_000;
/** Publishes in flight at once; beyond, events are dropped (with a warning) rather than piling up. */
const MAX_IN_FLIGHT = 64;

/**
 * Best-effort events to the notifications service. A job never waits for, or fails because of, a publish:
 * an unreachable or unimplemented notifications service costs a warning in the log, once per job.
 */
export class Notifier {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly warned = new Set<string>();

  constructor(private readonly clients: Pick<Clients, "notifications">) {}

  publish(tenant: string, jobId: string, eventType: string, payload: Record<string, unknown>, eventId: string): void {
    if (this.inFlight.size >= MAX_IN_FLIGHT) {
      this.warnOnce(jobId, eventType, "too many publishes in flight; event dropped");
      return;
    }
    const p = this.clients.notifications
      .publish(PublishRequest.fromPartial({ eventType, payload, eventId, occurTime: new Date() }), jobCallOptions(tenant, jobId, PUBLISH_TIMEOUT_MS))
      .then(
        () => undefined,
        (err) => this.warnOnce(jobId, eventType, describeError(err)),
      )
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  /** Waits (bounded) for publishes in flight, at shutdown. */
  async drain(timeoutMs = PUBLISH_TIMEOUT_MS): Promise<void> {
    await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }

  private warnOnce(jobId: string, eventType: string, error: string): void {
    if (this.warned.has(jobId)) return;
    if (this.warned.size >= 1_000) this.warned.clear(); // bounded memory; at worst a job warns twice
    this.warned.add(jobId);
    log.warn("could not publish an ingestion event (best effort; the job goes on)", { job_id: jobId, event_type: eventType, error });
  }
}
