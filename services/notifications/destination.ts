import { EgressRefusedError, resolveChecked, type Resolver } from "#mesh/egress.js";
import { InvalidArgumentError } from "#mesh/errors.js";

/** A subscription waits at most this long for its host to resolve; past it, the delivery-time check decides. */
const RESOLVE_TIMEOUT_MS = 2_000;

export interface DestinationPolicy {
  /** NOTIFICATIONS_ALLOW_PRIVATE: internal destinations are allowed (development, tests). */
  allowPrivate: boolean;
  /** The system resolver unless given (tests). */
  resolve?: Resolver;
  timeoutMs?: number;
}

/**
 * Refuses, at subscription, a webhook URL the delivery guard (mesh/egress.ts) would refuse: a host that is
 * or resolves to a loopback, private, link-local or otherwise internal address. Accepting it would only
 * lead to deliveries refused and retried at every event. The message does not say which address a name
 * resolved to (the subscribe call must not become a way to map internal DNS). A name that does not resolve
 * now is accepted: each delivery resolves and checks it again.
 */
export async function checkDestination(url: string, policy: DestinationPolicy): Promise<void> {
  if (policy.allowPrivate) return;
  try {
    await resolveChecked(new URL(url), { allowPrivate: false, refusal: "refused", resolve: policy.resolve }, AbortSignal.timeout(policy.timeoutMs ?? RESOLVE_TIMEOUT_MS));
  } catch (err) {
    if (err instanceof EgressRefusedError) {
      throw new InvalidArgumentError(
        "url",
        "points to an internal (loopback, private or link-local) address, where webhooks are not delivered; use a public https endpoint (an operator may allow internal ones with NOTIFICATIONS_ALLOW_PRIVATE)",
      );
    }
    // Unresolvable or slow to resolve: not a refusal; the delivery-time check still guards.
  }
}
