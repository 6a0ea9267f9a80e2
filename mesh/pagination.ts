import { createHash } from "node:crypto";
import { InvalidArgumentError } from "./errors.js";

/**
 * Opaque, keyset page tokens: the position after the last item plus a fingerprint of the filters, so a
 * token cannot be replayed against a different query (AIP-158). Not a security boundary: every query is
 * tenant-scoped anyway, so a forged position only moves within the caller's own data.
 */
export function encodePageToken(position: Record<string, string | number>, filters: unknown): string {
  return Buffer.from(JSON.stringify({ p: position, f: fingerprint(filters) })).toString("base64url");
}

export function decodePageToken<P extends Record<string, string | number>>(token: string, filters: unknown): P | undefined {
  if (token === "") return undefined;
  let parsed: { p?: unknown; f?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw new InvalidArgumentError("page_token", "malformed; pass next_page_token from the previous response unchanged");
  }
  if (typeof parsed?.p !== "object" || parsed.p === null) throw new InvalidArgumentError("page_token", "malformed; pass next_page_token from the previous response unchanged");
  if (parsed.f !== fingerprint(filters)) throw new InvalidArgumentError("page_token", "belongs to a listing with other filters; keep the filters unchanged between pages");
  return parsed.p as P;
}

/** Page size as AIP-158 has it: 0 means the default, above the maximum means the maximum, negative is an error. */
export function pageSize(requested: number, defaults: { default: number; max: number }): number {
  if (requested < 0) throw new InvalidArgumentError("page_size", "must not be negative");
  if (requested === 0) return defaults.default;
  return Math.min(requested, defaults.max);
}

function fingerprint(filters: unknown): string {
  return createHash("sha256").update(JSON.stringify(filters)).digest("base64url").slice(0, 16);
}

/** The page size every listing uses unless it has a reason of its own: 50 by default, at most 1000. */
export const PAGE_DEFAULTS = { default: 50, max: 1000 };
