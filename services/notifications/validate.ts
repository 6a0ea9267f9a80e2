import { randomBytes } from "node:crypto";
import { InvalidArgumentError } from "#mesh/errors.js";
import { isUuid, requiredId } from "#mesh/rules.js";

export const EVENT_TYPES = ["document.ingested", "document.deleted", "ingestion.job.finished", "ingestion.job.failed"] as const;

export const LIMITS = { url: 2048, description: 500, secretMin: 16, secretMax: 256, eventId: 256 };

const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** Absolute https URL, or http for localhost (a receiver on the same machine, e.g. in development). */
export function url(value: string): string {
  const field = "url";
  if (value.trim() === "") throw new InvalidArgumentError(field, "required");
  if ([...value].length > LIMITS.url) throw new InvalidArgumentError(field, `at most ${LIMITS.url} characters`);
  let parsed: URL;
  try {
    parsed = new URL(value.trim());
  } catch {
    throw new InvalidArgumentError(field, `${JSON.stringify(value)} is not an absolute URL`);
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") throw new InvalidArgumentError(field, `must be https (or http for localhost), not ${parsed.protocol}`);
  if (parsed.protocol === "http:" && !LOCAL_HOSTS.has(parsed.hostname.toLowerCase())) throw new InvalidArgumentError(field, "plain http is only accepted for localhost; use https");
  if (parsed.username || parsed.password) throw new InvalidArgumentError(field, "must not carry credentials; authenticate deliveries with the signature");
  if (parsed.hash) throw new InvalidArgumentError(field, "must not have a #fragment");
  return parsed.toString();
}

export function eventType(field: string, value: string): string {
  if (!(EVENT_TYPES as readonly string[]).includes(value)) throw new InvalidArgumentError(field, `unknown event type ${JSON.stringify(value)}; known: ${EVENT_TYPES.join(", ")}`);
  return value;
}

/** Empty means all event types; duplicates are dropped. */
export function eventTypes(values: string[]): string[] {
  return [...new Set(values.map((v, i) => eventType(`event_types[${i}]`, v)))];
}

/** The given secret, or a generated one (32 random bytes, base64url) when empty. */
export function secret(value: string): string {
  if (value === "") return randomBytes(32).toString("base64url");
  if ([...value].length < LIMITS.secretMin || [...value].length > LIMITS.secretMax) {
    throw new InvalidArgumentError("secret", `must be ${LIMITS.secretMin} to ${LIMITS.secretMax} characters (or empty to have one generated)`);
  }
  return value;
}

export function description(value: string): string {
  if ([...value].length > LIMITS.description) throw new InvalidArgumentError("description", `at most ${LIMITS.description} characters`);
  return value;
}

export function eventId(value: string): string {
  if ([...value].length > LIMITS.eventId) throw new InvalidArgumentError("event_id", `at most ${LIMITS.eventId} characters`);
  return value;
}

/**
 * The trimmed subscription id, and whether it can name one at all: ids are UUIDs, and anything else is
 * reported as not found rather than malformed (an id is opaque to callers).
 */
export function subscriptionId(value: string): { id: string; wellFormed: boolean } {
  const id = requiredId("subscription_id", value);
  return { id, wellFormed: isUuid(id) };
}
