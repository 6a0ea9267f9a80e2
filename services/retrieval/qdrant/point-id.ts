import { createHash } from "node:crypto";

// Namespace of this service's point ids (a random UUID, fixed forever: changing it orphans every point).
const NAMESPACE = Buffer.from("5e1f3b8c2a9d4e7fb0c6a1d2e3f40516", "hex");

/**
 * Qdrant point ids must be UUIDs (or integers), and one Qdrant collection holds many tenants' points, so
 * the id is a name-based UUID (RFC 4122 version 5) of (tenant, collection, chunk id): the same chunk id in
 * two tenants' collections gives two points, and an upsert of a chunk replaces exactly its own point.
 */
export function pointId(tenant: string, collection: string, chunkId: string): string {
  const hash = createHash("sha1").update(NAMESPACE).update(JSON.stringify([tenant, collection, chunkId])).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
