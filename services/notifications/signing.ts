import { createHmac } from "node:crypto";

/**
 * Standard Webhooks headers (https://www.standardwebhooks.com): the signature covers the delivery id and
 * the timestamp as well as the body, so a receiver that rejects old timestamps and ids it has seen cannot be
 * replayed. The HMAC key is the UTF-8 bytes of the subscription secret, exactly as Subscribe returned it.
 */
export function signatureHeaders(secret: string, webhookId: string, timestampSeconds: number, body: string): Record<string, string> {
  return {
    "webhook-id": webhookId,
    "webhook-timestamp": String(timestampSeconds),
    "webhook-signature": `v1,${sign(secret, webhookId, timestampSeconds, body)}`,
  };
}

export function sign(secret: string, webhookId: string, timestampSeconds: number, body: string): string {
  return createHmac("sha256", secret).update(`${webhookId}.${timestampSeconds}.${body}`).digest("base64");
}
